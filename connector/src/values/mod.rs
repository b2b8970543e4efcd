//! Values: the fields a table has, the JSON schema of each, and `values: plain` records.
//!
//! | module | job |
//! |---|---|
//! | [`fields`] | a table's fields as the fields list describes them |
//! | [`schema`] | a stream's JSON schema from its fields (raw and plain shapes) |
//! | [`plain`] | plain values: each cell rewritten to its schema's shape as the page is scanned |

pub mod fields;
pub mod plain;
pub mod schema;
