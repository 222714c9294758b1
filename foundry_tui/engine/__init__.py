"""What we measure. No Textual here: the CLI and the TUI share this layer, so their numbers cannot differ."""
