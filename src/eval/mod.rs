//! Evaluation: the reference scorer and standard span-level scoring.
