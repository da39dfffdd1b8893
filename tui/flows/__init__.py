"""The use cases both front doors call (the app's screens and the headless CLI). Textual-free, like
tui/services: a flow takes plain arguments and returns plain values or raises the services' errors."""
