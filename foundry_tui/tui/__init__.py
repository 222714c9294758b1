"""How it looks. Imports the layers below (backends, engine), never the reverse."""
