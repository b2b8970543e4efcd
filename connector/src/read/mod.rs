//! The read flow: which streams, which searches, which pages, and what is emitted.
//!
//! | module | job |
//! |---|---|
//! | [`catalog`] | the streams offered and the configured catalog's choices |
//! | [`attachments`] | attachments streams: each file downloaded once, a chunk at a time |
//! | [`stream_read`] | streams read at once, taking turns page by page, each opened and ended |
//! | [`revision`] | whether a table changed since a stream's last read (its revision) |
//! | [`planning`] | a stream's searches planned: sort, filters, creation-time ranges |
//! | [`ranges`] | a big table split into ranges of creation time read at once |
//! | [`pages`] | each range's lane of pages: prefetch, counts, emitted ids, resume points |
//! | [`records`] | a page's items: ids, cursor values, raw or plain records |
//! | [`scan`] | the structural scanner that finds each item of a page without parsing it |
//! | [`schema_drift`] | fields renamed, added or retyped since the catalog was discovered |
//! | [`deletes`] | records deleted in Feishu, confirmed before they are reported |

pub mod attachments;
pub mod catalog;
pub mod deletes;
pub mod pages;
pub mod planning;
pub mod ranges;
pub mod records;
pub mod revision;
pub mod scan;
pub mod schema_drift;
pub mod stream_read;
