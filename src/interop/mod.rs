//! Appendix T.
