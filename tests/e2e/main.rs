//! End-to-end tests: host-runner runs feishu.wasm against the mock Feishu server on
//! 127.0.0.1. One file per user-visible behaviour.

mod harness;

mod attachments;
mod bad_config;
mod base_streams;
mod big_table;
mod check;
mod compile_cache;
mod complete_syncs;
mod concurrency;
mod contract;
mod deletes;
mod discover;
mod edge;
mod environment;
mod faults;
mod image;
mod incremental;
mod inspect;
mod kept_secrets;
mod node_host;
mod operator;
mod output_and_signals;
mod plain_values;
mod protocol_schema;
mod pyairbyte;
mod quota;
mod read_catalog_and_state;
mod read_paginates;
mod sandbox;
mod schema_changes;
mod secret_references;
mod secrets_masked;
mod settings;
mod spec;
mod standard_tests;
