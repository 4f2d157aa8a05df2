//! Seeded workloads shared by the benchmarks (skeleton).
