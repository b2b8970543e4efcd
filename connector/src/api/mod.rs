//! Feishu's Open API as the connector uses it.
//!
//! | module | job |
//! |---|---|
//! | [`client`] | [`client::FeishuClient`]: every request through one retry loop, with the tenant token |
//! | [`token`] | the tenant access token from app id and secret, refreshed before it expires |
//! | [`classify`] | the error classifier: what an answer means (retry, wait, fail, and how) |
//! | [`url`] | request URLs and the query encoding Feishu expects |
//! | [`link`] | Base, wiki and table links pasted into the config |
//! | [`base`] | the Base's tables and each table's fields list |
//! | [`paginator`] | list endpoints paged with `page_token` |

pub mod base;
pub mod classify;
pub mod client;
pub mod link;
pub mod paginator;
pub mod token;
pub mod url;
