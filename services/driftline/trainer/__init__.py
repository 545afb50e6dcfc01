"""The trainer service: clean events and learn River models online, predict-then-learn."""
