"""The model file format and the pure maths of counting."""
