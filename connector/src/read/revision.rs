//! Whether a table changed since a stream last read it: its `revision` in the tables list,
//! trusted for `revision_recheck_hours` (Feishu does not document that every edit changes it).

use crate::api::client::FeishuClient;
use crate::host::{LogLevel, Output, Transport};
use crate::read::catalog::StreamDef;
use crate::state::incremental::SavedState;

/// Whether an incremental stream's table has the revision its state saw, and was read for
/// real less than `revision_recheck_hours` ago (else an INFO says why it is read anyway).
pub fn unchanged_and_recent<H: Transport, O: Output>(
    client: &FeishuClient<H>,
    out: &mut O,
    stream: &StreamDef,
    saved: &SavedState,
    started_ms: i64,
) -> bool {
    if saved.revision.is_none() || saved.revision != stream.revision {
        return false;
    }
    let hours = client.config().revision_recheck_hours;
    let recheck_ms = i64::try_from(hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX);
    let read_ms_ago = saved.read_at.map(|at| started_ms.saturating_sub(at));
    if read_ms_ago.is_some_and(|ago| ago < recheck_ms) {
        return true;
    }
    let message = format!(
        "stream `{}`: the table's revision is unchanged, but it was not read for real in the \
         last {hours} hours (`revision_recheck_hours`): reading it, as Feishu does not document \
         that every edit changes the revision",
        stream.name
    );
    out.log(LogLevel::Info, &message);
    false
}
