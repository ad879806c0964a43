"""pytest plugin for chaos (entry point ``pytest11``). Reserved: collection and fixtures come later."""
