//! What a stream keeps between runs.
//!
//! | module | job |
//! |---|---|
//! | [`incremental`] | the cursor, ties at the cursor, the table's identity and revision, resume points |
//! | [`record_ids`] | the compact set of record ids that deletes are confirmed against |

pub mod incremental;
pub mod record_ids;
