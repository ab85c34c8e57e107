//! The bounded aggregation of comparisons (the report's `comparison`).
