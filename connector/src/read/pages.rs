//! Reading one stream's pages: each lane's pages fetched with the next one in flight, records
//! filtered by cursor and range and emitted as Feishu sent them, the cursor saved when pages
//! come sorted by it, a stopped read's page taken up again, and lanes that come back short of
//! Feishu's count read once more. The stream around it (status bracket, state, sweep) is
//! `stream_read`'s.

use crate::api::client::FeishuClient;
use crate::api::paginator::PageCursor;
use crate::error::{Category, ConnectorError};
use crate::host::{LogLevel, Output, Transport};
use crate::read::catalog::StreamDef;
use crate::read::deletes::DeleteCheck;
use crate::read::planning::{Lane, SearchPlan};
use crate::read::records::{RecordsPage, id_text};
use crate::state::incremental::{self, CursorTracker, ResumePoint};
use crate::state::record_ids::hash64;
use crate::values::plain::PlainRecords;

/// One stream being read: its searches, its cursor, how its values are rendered, and the
/// ids it emitted when deletes are checked.
pub struct StreamRead {
    pub stream: StreamDef,
    pub plan: SearchPlan,
    pub tracker: CursorTracker,
    pub plain: Option<PlainRecords>,
    pub deletes: Option<DeleteCheck>,
}

impl StreamRead {
    /// A failed read keeps the pages it emitted in full: their state, when they came sorted.
    pub fn keep_what_was_emitted<O: Output>(&mut self, out: &mut O) {
        if self.plan.sorted && self.tracker.unsaved() {
            let _ = out.emit_state(&self.stream.name, &self.tracker.state());
        }
    }
}

/// A lane being read: its search, where its pages stand, and its page size (halved for this
/// lane alone when Feishu finds a page too large).
struct LaneCursor {
    lane: Lane,
    cursor: PageCursor,
    page_size: u32,
    count: LaneCount,
}

/// What a lane read against what Feishu counted: the `total` of its first page and the items
/// that came. A lane that ends short is read once more, emitting only what it had not; still
/// short, it is reported in a WARN with the numbers.
#[derive(Default)]
struct LaneCount {
    total: Option<u64>,
    received: u64,
    /// Hashes of the ids the lane emitted, when Feishu counted it: a record Feishu sends
    /// again (a repeated page, a re-read) is emitted once.
    emitted: std::collections::HashSet<u64>,
    /// Records of the lane's first reading that Feishu had sent already.
    repeated: u64,
    /// The lane is being read a second time.
    again: bool,
    /// The lane went on from where an earlier run stopped: its items are not all counted.
    resumed: bool,
}

impl LaneCount {
    /// Whether the record of `id` (its JSON string) was emitted by the lane already.
    fn emitted_before(&self, id: &[u8]) -> bool {
        !self.emitted.is_empty() && self.emitted.contains(&hash64(id))
    }

    /// Notes a page: its `total` (on the lane's first page) and its `ids`, of which those
    /// sent before (in the first reading) are counted as repeated, not received.
    fn page(&mut self, first: bool, total: Option<u64>, ids: &[&[u8]]) -> u64 {
        if first {
            self.total = total;
        }
        let repeated = match self.again {
            true => 0,
            false => ids.iter().filter(|id| self.emitted_before(id)).count() as u64,
        };
        self.repeated += repeated;
        self.received += ids.len() as u64 - repeated;
        repeated
    }

    /// Whether the lane's emitted ids are kept: Feishu counted it and it was read from its
    /// start (so it may be read again, and a repeated record is recognised).
    fn keeps_ids(&self) -> bool {
        !self.resumed && (self.total.is_some() || self.again)
    }

    /// How many fewer items came than Feishu counted, if fewer did.
    fn short_by(&self) -> Option<(u64, u64)> {
        let total = self.total.filter(|_| !self.resumed)?;
        (self.received < total).then_some((self.received, total))
    }
}

impl LaneCursor {
    fn sorted_resume(&self) -> Option<&ResumePoint> {
        self.lane.sorted.as_ref()?.resume.as_ref()
    }
}

/// A stream's lanes being paged through, emitting each page's records (those at or after the
/// cursor, and in the lane's range of creation time) as Feishu sent them, and fetching each
/// lane's next page while the current one is handed over. Several lanes are read in turn,
/// each with its next page in flight. When pages come sorted by the cursor, the cursor is
/// saved after each page (or, when the state carries many record ids, after enough pages).
pub struct Lanes {
    lanes: Vec<LaneCursor>,
    turn: usize,
    /// Whether the lanes take turns (ranges read at once) or one is read to its end.
    at_once: bool,
    busy_before: u64,
    /// Records emitted so far.
    pub emitted: u64,
}

impl Lanes {
    /// The lanes of `read`'s plan, each lane's first page asked for at once.
    pub fn start<H: Transport>(client: &mut FeishuClient<H>, read: &mut StreamRead) -> Self {
        let page_size = client.config().page_size;
        let lanes: Vec<LaneCursor> = std::mem::take(&mut read.plan.lanes)
            .into_iter()
            .map(|lane| {
                let resume = lane.sorted.as_ref().and_then(|s| s.resume.as_ref());
                LaneCursor {
                    cursor: PageCursor::resuming(resume.and_then(|p| p.token.clone())),
                    page_size: resume.map_or(page_size, |p| p.page_size),
                    count: LaneCount {
                        resumed: resume.is_some(),
                        ..LaneCount::default()
                    },
                    lane,
                }
            })
            .collect();
        for lane in lanes.iter().filter(|l| l.lane.first.is_none()) {
            let table = &read.stream.table;
            let token = lane.cursor.token();
            client.prefetch_records(table, &lane.lane.body, lane.page_size, token);
        }
        Self {
            at_once: lanes.len() > 1,
            lanes,
            turn: 0,
            busy_before: client.busy_answers(),
            emitted: 0,
        }
    }

    /// Reads and emits the next page; false once every lane has ended.
    pub fn step<H: Transport, O: Output>(
        &mut self,
        client: &mut FeishuClient<H>,
        out: &mut O,
        read: &mut StreamRead,
    ) -> Result<bool, ConnectorError> {
        if self.lanes.is_empty() {
            return Ok(false);
        }
        let i = self.turn % self.lanes.len();
        let (emitted, more) = read_page(client, out, read, &mut self.lanes[i])?;
        self.emitted += emitted;
        if self.at_once && client.busy_answers() >= self.busy_before + 2 {
            self.at_once = false;
            let message = format!(
                "stream `{}`: Feishu said the table was busy (code 1254607) more than once while \
                 {} ranges were read at once; reading one range at a time from here",
                read.stream.name,
                self.lanes.len()
            );
            out.log(LogLevel::Warn, &message);
        }
        if more {
            // Ranges take turns while read at once; otherwise one is read to its end.
            self.turn = if self.at_once { i + 1 } else { i };
        } else {
            self.lanes.remove(i);
            self.turn = i;
        }
        Ok(!self.lanes.is_empty())
    }
}

/// Reads and emits the next page of `lane`: (records emitted, whether the lane has more).
fn read_page<H: Transport, O: Output>(
    client: &mut FeishuClient<H>,
    out: &mut O,
    read: &mut StreamRead,
    lane: &mut LaneCursor,
) -> Result<(u64, bool), ConnectorError> {
    let stream = &read.stream;
    let table = &stream.table;
    let body = lane.lane.body.clone();
    let body = body.as_str();
    let asked_token = lane.cursor.token().map(str::to_string);
    let resuming = lane.sorted_resume().is_some();
    let response = loop {
        let answer = match lane.lane.first.take() {
            Some(first) => Ok(first),
            None => client.search_records(table, body, lane.page_size, lane.cursor.token()),
        };
        match answer {
            Err(e) if resuming && !ends_the_read(&e) => {
                restart_sorted(client, out, read, lane, &e.message);
                return Ok((0, true));
            }
            Err(e) if e.category == Category::ResponseTooLarge && lane.page_size > 1 => {
                if lane.page_size == client.config().page_size {
                    let message = format!(
                        "stream `{}`: Feishu found a page of {} records too large \
                         (code 1254030); reading smaller pages from here on",
                        stream.name, lane.page_size
                    );
                    out.log(LogLevel::Warn, &message);
                }
                lane.page_size = (lane.page_size / 2).max(1);
            }
            outcome => break outcome?,
        }
    };
    let page_number = lane.cursor.pages() + 1;
    let where_ = || {
        let path = crate::host::shown_path(&table.search_path());
        format!("records page {page_number} from POST {path}")
    };
    let page = RecordsPage::parse_plain(&response.body, read.plain.as_mut())
        .map_err(|e| e.context(where_()));
    if let Some(point) = lane.lane.sorted.as_mut().and_then(|s| s.resume.take()) {
        return match page {
            Ok(page) if is_the_page(&page, &point) => go_on_after(client, out, read, lane, &page),
            Ok(_) => {
                restart_sorted(client, out, read, lane, "its records differ now");
                Ok((0, true))
            }
            Err(e) => {
                restart_sorted(client, out, read, lane, &e.message);
                Ok((0, true))
            }
        };
    }
    let page = page?;
    let first_page = lane.cursor.pages() == 0 && lane.count.received == 0;
    let repeated_before = lane.count.repeated;
    let repeated = lane.count.page(first_page, page.total, &page.ids) as usize;
    if repeated > 0 && repeated_before == 0 {
        let message = format!(
            "stream `{}`: Feishu sent records of an earlier page again; each record is emitted \
             once",
            stream.name
        );
        out.log(LogLevel::Warn, &message);
    }
    let more = lane.cursor.advance(
        page.has_more,
        page.page_token.as_deref(),
        page.items.len() - repeated,
    );
    if let Ok(true) = more {
        client.prefetch_records(table, body, lane.page_size, lane.cursor.token());
    }
    // Where a sorted read stands after this page, should it stop here.
    let point = lane.lane.sorted.as_ref().and_then(|sorted| {
        Some(ResumePoint {
            from: sorted.from,
            page_size: lane.page_size,
            token: asked_token,
            first: id_text(page.ids.first()?)?.into_owned(),
            last: id_text(page.ids.last()?)?.into_owned(),
            items: page.items.len(),
        })
    });
    let page_bytes: usize = page.items.iter().map(|r| r.len()).sum();
    let range = lane.lane.range;
    let (plan, tracker, count) = (&read.plan, &mut read.tracker, &lane.count);
    // The first reading looked every id up already (`repeated`); only a page with repeats, or
    // a second reading, needs each id looked up again.
    let look_up = repeated > 0 || count.again;
    let (kept, records) = page.kept(|r, id| {
        let own_id = || id_text(id).map(std::borrow::Cow::into_owned);
        range.is_none_or(|range| range.holds(r))
            && !(look_up && count.emitted_before(id))
            && (!plan.track_cursor || tracker.keep(incremental::record_cursor(r), own_id))
    });
    if let Some(deletes) = read.deletes.as_mut() {
        kept.iter().for_each(|id| deletes.saw(id));
    }
    if lane.count.keeps_ids() {
        lane.count.emitted.extend(kept.iter().map(|id| hash64(id)));
    }
    let emitted = records.len() as u64;
    if !records.is_empty() {
        out.emit_records(&stream.name, records)
            .map_err(|e| e.context(where_()))?;
    }
    if let Some(point) = point {
        read.tracker.reached(point);
    }
    if lane.lane.sorted.is_some() && read.tracker.checkpoint_due(page_bytes.max(1)) {
        out.emit_state(&stream.name, &read.tracker.state())?;
    }
    let more = more?;
    Ok((emitted, more || read_short_lane_again(out, stream, lane)))
}

/// At the end of a lane: when fewer records came than Feishu counted, the first time the
/// lane is read again (true: it has more); the second time a WARN gives the numbers.
fn read_short_lane_again<O: Output>(
    out: &mut O,
    stream: &StreamDef,
    lane: &mut LaneCursor,
) -> bool {
    let Some((received, total)) = lane.count.short_by() else {
        return false;
    };
    let what = match lane.lane.range {
        Some(_) => "a range of creation time",
        None => "the search",
    };
    if lane.count.again {
        let message = format!(
            "stream `{}`: {what} gave {received} records where Feishu counted {total}, read \
             twice; records may be missing (deleted during the read, or held back by Feishu)",
            stream.name
        );
        out.log(LogLevel::Warn, &message);
        return false;
    }
    let message = format!(
        "stream `{}`: {what} gave {received} records where Feishu counted {total}; reading it \
         once more (records emitted already are not emitted again)",
        stream.name
    );
    out.log(LogLevel::Info, &message);
    lane.count.again = true;
    lane.count.total = None;
    lane.count.received = 0;
    lane.cursor = PageCursor::default();
    true
}

/// Errors that end a read however it goes on: a resumed search failing for anything else is
/// started again from the cursor instead.
fn ends_the_read(e: &ConnectorError) -> bool {
    matches!(
        e.category,
        Category::Auth
            | Category::Permission
            | Category::RateLimited(_)
            | Category::Config
            | Category::OutputClosed
    )
}

/// Whether `page` is the page a stopped read emitted last: same first and last record, same
/// count (nothing before it moved, so what follows it is what the stopped read had not read).
fn is_the_page(page: &RecordsPage<'_>, point: &ResumePoint) -> bool {
    let is =
        |raw: Option<&&[u8]>, id: &str| raw.and_then(|raw| id_text(raw)).as_deref() == Some(id);
    page.items.len() == point.items
        && is(page.ids.first(), &point.first)
        && is(page.ids.last(), &point.last)
}

/// The page a stopped read emitted last came back unchanged: its records were emitted then,
/// so the read goes on after it.
fn go_on_after<H: Transport, O: Output>(
    client: &mut FeishuClient<H>,
    out: &mut O,
    read: &mut StreamRead,
    lane: &mut LaneCursor,
    page: &RecordsPage<'_>,
) -> Result<(u64, bool), ConnectorError> {
    if let Some(deletes) = read.deletes.as_mut() {
        page.ids.iter().for_each(|id| deletes.saw(id));
    }
    let message = format!(
        "stream `{}`: going on after the page the last read stopped at",
        read.stream.name
    );
    out.log(LogLevel::Info, &message);
    let more = lane
        .cursor
        .advance(page.has_more, page.page_token.as_deref(), page.items.len())?;
    if more {
        let body = lane.lane.body.clone();
        client.prefetch_records(
            &read.stream.table,
            &body,
            lane.page_size,
            lane.cursor.token(),
        );
    }
    Ok((0, more))
}

/// The page a stopped read reached cannot be read again as it was (`why`): the search starts
/// again from the cursor, where the records emitted before it are skipped by time and id.
fn restart_sorted<H: Transport, O: Output>(
    client: &mut FeishuClient<H>,
    out: &mut O,
    read: &mut StreamRead,
    lane: &mut LaneCursor,
    why: &str,
) {
    let Some(sorted) = lane.lane.sorted.as_mut() else {
        return;
    };
    let message = format!(
        "stream `{}`: cannot go on after the page the last read stopped at ({why}); reading \
         again from the saved cursor, without emitting again what was emitted",
        read.stream.name
    );
    out.log(LogLevel::Info, &message);
    lane.lane.body = sorted.restart(read.tracker.since);
    lane.cursor = PageCursor::default();
    lane.count = LaneCount::default();
    lane.page_size = client.config().page_size;
}
