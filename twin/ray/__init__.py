"""Ray for both the simulator's batches and the live twin: the session (join RAY_ADDRESS or
start our own), independent items as ordered Ray tasks, and the warm pool of detached actors.
Named after the library it wraps; `import ray` inside it is Ray itself (absolute imports)."""
