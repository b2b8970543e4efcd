//! Secrets a server echoes back never reach the output: the configured secret values and the
//! bearer token the component sent are masked in CONNECTION_STATUS, TRACE, LOG and stderr
//! (the harness fails any run that prints them).

use crate::harness::{Files, mock, run};
use mock_feishu::{APP_SECRET, Fault, MockConfig};

/// A Feishu error whose `msg` repeats the app secret and the first token the mock issued.
fn echoing() -> Fault {
    Fault::Code {
        status: 400,
        code: 1254000,
        msg: format!("WrongRequestBody: app_secret={APP_SECRET} token=Bearer {{bearer}}"),
    }
}

#[test]
fn an_error_that_echoes_secrets_is_printed_masked() {
    for command in ["check", "read"] {
        let mock = mock(MockConfig::with_records(5).fault(1, echoing()));
        let files = Files::new();
        let config = files.json("config.json", &mock.connector_config(100));
        let run = run(&[command, "--config", &config, "--log-level", "debug"]);
        let shown = format!("{}{}", run.stdout, run.stderr);
        assert!(
            shown.contains("app_secret=********** token=Bearer **********"),
            "{command}: {shown}"
        );
        if command == "check" {
            let status = &run.of_type("CONNECTION_STATUS")[0]["connectionStatus"];
            assert_eq!(status["status"], "FAILED");
            assert!(
                status["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("**********")
            );
        } else {
            run.assert_failed("config_error", "app_secret=**********");
        }
    }
}
