//! RFC 3261 transactions (placeholder until the transaction layer lands).
