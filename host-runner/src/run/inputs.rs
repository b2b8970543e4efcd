//! The inputs of an operation (config, catalog, state), read and checked before the component
//! runs; a state in any shape a platform hands back is normalized by [`crate::run::state_input`].

use super::failure::Failure;
use crate::{Input, Operation};
use serde_json::Value;

/// The inputs of an operation, read and checked before the component runs.
pub struct Inputs {
    pub config_text: Option<String>,
    pub config: Option<Value>,
    /// Values the config's secret references ([`crate::run::secret_refs`]) put in.
    pub resolved_secrets: Vec<String>,
    pub catalog: Option<String>,
    pub state: Option<String>,
}

impl Inputs {
    pub fn read(operation: &Operation) -> Result<Self, Failure> {
        let (config, catalog, state) = match operation {
            Operation::Spec => (None, None, None),
            Operation::Check { config } | Operation::Discover { config } => {
                (Some(config), None, None)
            }
            Operation::Read {
                config,
                catalog,
                state,
            } => (Some(config), catalog.as_ref(), state.as_ref()),
        };
        let (config_text, config, resolved_secrets) = match config {
            Some(input) => {
                let (text, value, resolved) = input.read_config().map_err(Failure::Input)?;
                (Some(text), Some(value), resolved)
            }
            None => (None, None, Vec::new()),
        };
        let state = match state {
            Some(input) => Some(
                crate::run::state_input::normalize(&input.text("state").map_err(Failure::Input)?)
                    .map_err(|e| Failure::Input(format!("{}: {e}", input.source("state"))))?,
            ),
            None => None,
        };
        let catalog = catalog.map(|c| c.text("catalog")).transpose();
        Ok(Self {
            config_text,
            config,
            resolved_secrets,
            catalog: catalog.map_err(Failure::Input)?,
            state,
        })
    }
}

impl Input {
    /// How messages name this input: `--config` for a file, `the config` for text.
    fn name(&self, what: &str) -> String {
        match self {
            Input::File(_) => format!("--{what}"),
            Input::Text(_) => format!("the {what}"),
        }
    }

    /// Where this input came from: `--state file PATH`, or `the state`.
    fn source(&self, what: &str) -> String {
        match self {
            Input::File(path) => format!("--{what} file {}", path.display()),
            Input::Text(_) => format!("the {what}"),
        }
    }

    /// The input's text, or why it cannot be read.
    fn text(&self, what: &str) -> Result<String, String> {
        match self {
            Input::Text(text) => Ok(text.clone()),
            Input::File(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read --{what} file {}: {e}", path.display())),
        }
    }

    /// The config's text and JSON with its secret references resolved, and the values they
    /// put in; or why there are none.
    pub(crate) fn read_config(&self) -> Result<(String, Value, Vec<String>), String> {
        let (text, mut value) = self.read_json("config")?;
        let resolved = crate::run::secret_refs::resolve(&mut value)?;
        let text = if resolved.is_empty() {
            text
        } else {
            value.to_string()
        };
        Ok((text, value, resolved))
    }

    /// The input's text and its JSON, or why there are none.
    pub(crate) fn read_json(&self, what: &str) -> Result<(String, Value), String> {
        let text = self.text(what)?;
        let value = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not valid JSON: {e}", self.name(what)))?;
        Ok((text, value))
    }
}
