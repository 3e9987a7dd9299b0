"""Property-based fuzzing of every parser (issue 15): see docs/fuzzing.md."""
