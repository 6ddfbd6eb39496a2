"""Read models derived only from stored events; each has one apply path, inline and rebuild."""
