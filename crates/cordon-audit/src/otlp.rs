//! OTLP export (placeholder, filled below).
