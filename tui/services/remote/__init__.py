"""What talks to the instance over SSH: the connection and host keys, the detached setup runner and
its recipe, the nvidia-smi stream, the Jupyter server and the local forward that tunnels to it.
Parsers of what the instance prints are pure functions beside the module that reads it."""
