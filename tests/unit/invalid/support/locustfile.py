"""The invalid corpus only needs this file to exist: no corpus experiment ever runs."""
