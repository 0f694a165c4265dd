"""What turns frames into violations and runs it: engine, rules, batch and live runners, CLI."""
