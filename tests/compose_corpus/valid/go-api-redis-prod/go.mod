module example.test/go-api

go 1.22
