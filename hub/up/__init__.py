"""The composition root of ``enlace up``: server, audit writer, hub app and adapter children."""
