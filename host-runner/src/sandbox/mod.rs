//! The sandbox: what a component may reach and how its requests go out.
//!
//! | module | job |
//! |---|---|
//! | [`hosts`] | host patterns, the allowlist, and the address policy checked when dialling |
//! | [`grants`] | the operator's grants from the config and the flags (never the defaults) |
//! | [`egress`] | the one hook every outgoing request passes: refuse, or send |
//! | [`dial`] | the pooled HTTP client, timeouts, retries of dead pooled connections |
//! | [`request_rate`] | the declared rate limit and the shared limiter |
//! | [`stats`] | what the run's requests cost (the summary's figures) |
//! | [`placeholders`] | secrets the host keeps, put back into granted requests |
//! | [`limits`] | memory and instance caps, and what a trap means |
//! | [`files`] | files the component hands over, kept under the run's files directory |

pub mod dial;
pub mod egress;
pub mod files;
pub mod grants;
pub mod hosts;
pub mod limits;
pub mod placeholders;
pub mod request_rate;
pub mod stats;
