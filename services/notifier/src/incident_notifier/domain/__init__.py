"""What a notification is and who receives it: plain data and pure functions, no I/O."""
