"""The command line: `twin` and every command of it (`python -m twin.cli`, twin.cli.main).
The top of the house: it runs an engine, then writes the engine's output."""
