require("http").createServer((q, r) => r.end("billing")).listen(8000);
