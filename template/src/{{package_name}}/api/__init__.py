"""HTTP routers. `examples` shows the patterns; replace it with your own."""
