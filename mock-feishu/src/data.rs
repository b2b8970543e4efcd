//! The mock Base's deterministic content: one table of N records with realistic values
//! (unicode text, numbers, selects, dates, users, links, attachments) in the shapes the records
//! search endpoint returns.

use serde_json::{Value, json};

/// Base and table ids of the mock.
pub const APP_TOKEN: &str = "bascnMockBase0001";
/// The main table, with the configured number of records.
pub const TABLE_ID: &str = "tblMockTable0001";
pub const TABLE_NAME: &str = "项目任务 Tasks";
/// A table with a field of every type.
pub const ALL_TYPES_TABLE_ID: &str = "tblAllTypes00001";
/// An empty table named only with an emoji.
pub const EMPTY_TABLE_ID: &str = "tblEmptyTable001";
/// Two tables with the same name.
pub const DUP_TABLE_IDS: [&str; 2] = ["tblDupName000001", "tblDupName000002"];
/// An embedded document listed among the tables.
pub const DOC_ID: &str = "ldxEmbeddedDoc01";
/// A wiki node holding the Base, and one holding a document.
pub const WIKI_NODE: &str = "wikcnMockNode001";
pub const WIKI_DOC_NODE: &str = "wikcnMockDoc0001";
/// A view of the main table: its odd-numbered records, newest first.
pub const ODD_DESC_VIEW: &str = "vewOddDesc000001";
/// Copies of the main table a mock may add (same records), for multi-table benchmarks.
pub const COPY_TABLE_IDS: [&str; 8] = [
    "tblMockCopy00001",
    "tblMockCopy00002",
    "tblMockCopy00003",
    "tblMockCopy00004",
    "tblMockCopy00005",
    "tblMockCopy00006",
    "tblMockCopy00007",
    "tblMockCopy00008",
];

/// Whether `table_id` is the main table or one of its copies.
pub fn is_main_like(table_id: &str) -> bool {
    table_id == TABLE_ID || COPY_TABLE_IDS.contains(&table_id)
}

/// Records in the all-types table.
pub const ALL_TYPES_RECORDS: usize = 4;

/// One item of the Base's tables list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockTable {
    pub table_id: &'static str,
    pub name: &'static str,
    pub records: usize,
}

/// The tables list, in order (`main_records` records in the main table).
pub fn tables(main_records: usize) -> Vec<MockTable> {
    vec![
        MockTable {
            table_id: TABLE_ID,
            name: TABLE_NAME,
            records: main_records,
        },
        MockTable {
            table_id: ALL_TYPES_TABLE_ID,
            name: "全部字段 All types",
            records: ALL_TYPES_RECORDS,
        },
        MockTable {
            table_id: EMPTY_TABLE_ID,
            name: "🗂️",
            records: 0,
        },
        MockTable {
            table_id: DUP_TABLE_IDS[0],
            name: "重复",
            records: 1,
        },
        MockTable {
            table_id: DOC_ID,
            name: "嵌入文档",
            records: 0,
        },
        MockTable {
            table_id: DUP_TABLE_IDS[1],
            name: "重复",
            records: 2,
        },
    ]
}

/// The tables list with `copies` copies of the main table appended (at most 8).
pub fn tables_with_copies(main_records: usize, copies: usize) -> Vec<MockTable> {
    let mut all = tables(main_records);
    all.extend(
        COPY_TABLE_IDS
            .iter()
            .take(copies)
            .map(|&table_id| MockTable {
                table_id,
                name: "副本 Copy",
                records: main_records,
            }),
    );
    all
}

/// Record `index` of any table.
pub fn table_record(table_id: &str, index: usize, automatic: bool) -> Value {
    if table_id == TABLE_ID {
        return record(index, automatic);
    }
    let fields = if table_id == ALL_TYPES_TABLE_ID {
        all_types_fields(index)
    } else {
        json!({"名称": [{"type": "text", "text": format!("{table_id} #{index}")}]})
    };
    let mut r = json!({"record_id": format!("rec{}{index:04}", &table_id[3..9]), "fields": fields});
    if automatic {
        r["created_time"] = json!(BASE_TIME_MS + index as i64);
        r["last_modified_time"] = json!(BASE_TIME_MS + index as i64 + 1);
        r["created_by"] = person(index);
        r["last_modified_by"] = person(index);
    }
    r
}

/// Fields list of any table.
pub fn table_fields(table_id: &str) -> Vec<Value> {
    match table_id {
        t if is_main_like(t) => field_list(),
        ALL_TYPES_TABLE_ID => all_types_field_list(),
        _ => vec![field(1, "名称", 1, "Text")],
    }
}

fn field(id: usize, name: &str, ty: u32, ui: &str) -> Value {
    json!({"field_id": format!("fld{id:07}"), "field_name": name, "type": ty, "ui_type": ui,
           "is_primary": id == 1, "is_hidden": false, "property": null, "description": ""})
}

fn all_types_field_list() -> Vec<Value> {
    [
        ("文本", 1, "Text"),
        ("条码", 1, "Barcode"),
        ("邮箱", 1, "Email"),
        ("数字", 2, "Number"),
        ("货币", 2, "Currency"),
        ("评分", 2, "Rating"),
        ("单选", 3, "SingleSelect"),
        ("多选", 4, "MultiSelect"),
        ("日期", 5, "DateTime"),
        ("复选框", 7, "Checkbox"),
        ("人员", 11, "User"),
        ("电话", 13, "Phone"),
        ("超链接", 15, "Url"),
        ("附件", 17, "Attachment"),
        ("单向关联", 18, "SingleLink"),
        ("查找引用", 19, "Lookup"),
        ("公式", 20, "Formula"),
        ("双向关联", 21, "DuplexLink"),
        ("地理位置", 22, "Location"),
        ("群组", 23, "GroupChat"),
        ("流程", 24, "Stage"),
        ("按钮", 3001, "Button"),
        ("创建时间", 1001, "CreatedTime"),
        ("修改时间", 1002, "ModifiedTime"),
        ("创建人", 1003, "CreatedUser"),
        ("修改人", 1004, "ModifiedUser"),
        ("自动编号", 1005, "AutoNumber"),
        ("未来字段", 9999, "Future"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (name, ty, ui))| {
        let mut field = field(i + 1, name, *ty, ui);
        // Formulas and lookups carry their result type, as Feishu's fields list does.
        let result_type = match *name {
            "公式" => Some(2),
            "查找引用" => Some(1),
            _ => None,
        };
        if let Some(data_type) = result_type {
            field["property"] = json!({"type": {"data_type": data_type}});
        }
        field
    })
    .collect()
}

/// A record of the all-types table; record 3 leaves every optional cell empty.
fn all_types_fields(index: usize) -> Value {
    let i = index as i64;
    if index == 3 {
        return json!({"文本": [{"type": "text", "text": "只有文本"}], "自动编号": "4"});
    }
    // A number formula; record 2's is an error value.
    let formula = match index {
        0 => json!({"type": 2, "value": [7]}),
        1 => json!({"type": 2, "value": [42.5]}),
        _ => json!({"type": 2, "value": ["#ERROR"]}),
    };
    json!({
        "文本": [{"type": "text", "text": "你好 "}, {"type": "mention", "text": "@张三", "token": "ou_1"}, {"type": "url", "text": "链接", "link": "https://example.com"}],
        "条码": [{"type": "text", "text": format!("690123456789{index}")}],
        "邮箱": [{"type": "url", "text": "a@b.c", "link": "mailto:a@b.c"}],
        "数字": i as f64 + 0.66,
        "货币": 1999.99,
        "评分": 4,
        "单选": "进行中",
        "多选": ["前端", "🚀 launch"],
        "日期": BASE_TIME_MS + i * 86_400_000,
        "复选框": index.is_multiple_of(2),
        "人员": [person(index)],
        "电话": "+8613800000000",
        "超链接": {"link": "https://example.com", "text": "示例"},
        "附件": [{"file_token": "boxcnAll", "name": "图.png", "size": 2048, "type": "image/png", "url": "https://example.com/a", "tmp_url": "https://example.com/t"}],
        "单向关联": {"link_record_ids": ["recAllType0001"]},
        "查找引用": {"type": 1, "value": [{"type": "text", "text": "引用"}]},
        "公式": formula,
        "双向关联": {"link_record_ids": []},
        "地理位置": {"location": "116.397755,39.903179", "pname": "北京市", "cityname": "北京市", "adname": "东城区", "address": "天安门", "name": "天安门", "full_address": "北京市东城区天安门"},
        "群组": [{"id": "oc_123", "name": "项目群", "avatar_url": "https://example.com/g.png"}],
        "流程": {"stage": "待开始"},
        "按钮": {"label": "提交"},
        "创建时间": BASE_TIME_MS,
        "修改时间": BASE_TIME_MS + 1000,
        "创建人": [person(index)],
        "修改人": if index == 2 { person(index) } else { json!([person(index)]) },
        "自动编号": format!("{}", index + 1),
        "未来字段": {"anything": [1, "two"]}
    })
}

/// Epoch ms of record 0's creation; later records are a minute apart.
const BASE_TIME_MS: i64 = 1_735_689_600_000;

/// Stable, unique record id of the record at `index`: `rec` and ten characters, as Feishu's
/// (an odd multiplier is a bijection on the 40 bits the ten hex digits hold).
pub fn record_id(index: usize) -> String {
    format!(
        "rec{:010x}",
        ((index as u64).wrapping_mul(0x9E37_79B9) & 0xFF_FFFF_FFFF) ^ 0x5A5A_5A5A
    )
}

/// The index of the main-table record with id `id`, among the first `n`.
pub fn record_index(id: &str, n: usize) -> Option<usize> {
    (0..n).find(|&i| record_id(i) == id)
}

fn person(index: usize) -> Value {
    const PEOPLE: [(&str, &str, &str); 3] = [
        ("张三", "Zhang San", "zhang.san"),
        ("李四", "Li Si", "li.si"),
        ("Ōzora Ümit", "Ozora Umit", "ozora"),
    ];
    let (name, en_name, mail) = PEOPLE[index % PEOPLE.len()];
    json!({
        "id": format!("ou_{:032x}", index % PEOPLE.len() + 1),
        "name": name,
        "en_name": en_name,
        "email": format!("{mail}@example.com"),
        "avatar_url": format!("https://example.com/avatar/{mail}.png")
    })
}

/// The `fields` object of record `index`; empty cells are left out, as Feishu does.
pub fn fields(index: usize) -> Value {
    const STATUS: [&str; 3] = ["待处理", "进行中", "已完成"];
    const TAGS: [&str; 4] = ["前端", "后端", "urgent", "🚀 launch"];
    let i = index as i64;
    let mut f = json!({
        "任务名称": [{"type": "text", "text": format!("任务 #{index} — ünïcödé \"quoted\" \\ line\nbreak\u{2028}separator\u{2029}end 🚀")}],
        "数量": (i as f64) * 1.5,
        "进度": (index % 101) as f64 / 100.0,
        "状态": STATUS[index % STATUS.len()],
        "标签": TAGS.iter().enumerate().filter(|(t, _)| (index >> t) & 1 == 1).map(|(_, v)| *v).collect::<Vec<_>>(),
        "截止日期": BASE_TIME_MS + i * 86_400_000,
        "负责人": [person(index)],
        "电话": format!("+86 138{:08}", index),
        "网址": {"link": format!("https://example.com/items/{index}"), "text": format!("链接 {index}")},
        "附件": [{
            "file_token": format!("boxcn{:012x}", index),
            "name": format!("报告-{index}.pdf"),
            "size": 1024 + index * 7,
            "type": "application/pdf",
            "url": format!("https://open.feishu.cn/open-apis/drive/v1/medias/boxcn{:012x}/download", index),
            "tmp_url": format!("https://open.feishu.cn/open-apis/drive/v1/medias/batch_get_tmp_download_url?file_tokens=boxcn{:012x}", index)
        }],
        "编号": format!("{}", index + 1)
    });
    if index.is_multiple_of(2) {
        f["完成"] = json!(true);
    }
    if index > 0 {
        f["关联任务"] = json!({"link_record_ids": [record_id(index - 1)]});
    }
    f
}

/// Name of the main table's ModifiedTime (type 1002) field.
pub const MODIFIED_FIELD: &str = "修改时间";

/// Name of the main table's CreatedTime (type 1001) field.
pub const CREATED_FIELD: &str = "创建时间";

/// When main-table record `index` was created: half an hour apart (3,000 records span two
/// months), before its first modification.
pub fn created_at(index: usize) -> i64 {
    BASE_TIME_MS + index as i64 * 1_800_000
}

/// When record `index` of the main table was last modified, unless changed since: an hour
/// apart, so that a day-granular filter has something to narrow.
pub fn default_modified(index: usize) -> i64 {
    BASE_TIME_MS + index as i64 * 3_600_000 + 30_000
}

/// Record `index` as the search endpoint returns it (`automatic` = `automatic_fields`).
pub fn record(index: usize, automatic: bool) -> Value {
    record_modified_at(index, automatic, default_modified(index))
}

/// Record `index`, last modified at `modified` (ms).
pub fn record_modified_at(index: usize, automatic: bool, modified: i64) -> Value {
    let mut fields = fields(index);
    fields[MODIFIED_FIELD] = json!(modified);
    fields[CREATED_FIELD] = json!(created_at(index));
    let mut r = json!({"record_id": record_id(index), "fields": fields});
    if automatic {
        r["created_time"] = json!(created_at(index));
        r["last_modified_time"] = json!(modified);
        r["created_by"] = person(index);
        r["last_modified_by"] = person(index + 1);
    }
    r
}

/// The main table's fields list (`GET .../fields` items).
pub fn field_list() -> Vec<Value> {
    vec![
        field(1, "任务名称", 1, "Text"),
        field(2, "数量", 2, "Number"),
        field(3, "进度", 2, "Progress"),
        field(4, "状态", 3, "SingleSelect"),
        field(5, "标签", 4, "MultiSelect"),
        field(6, "截止日期", 5, "DateTime"),
        field(7, "完成", 7, "Checkbox"),
        field(8, "负责人", 11, "User"),
        field(9, "电话", 13, "Phone"),
        field(10, "网址", 15, "Url"),
        field(11, "附件", 17, "Attachment"),
        field(12, "关联任务", 21, "DuplexLink"),
        field(13, "编号", 1005, "AutoNumber"),
        field(14, MODIFIED_FIELD, 1002, "ModifiedTime"),
        field(15, CREATED_FIELD, 1001, "CreatedTime"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_are_unique() {
        let ids: std::collections::HashSet<String> = (0..10_000).map(record_id).collect();
        assert_eq!(ids.len(), 10_000);
    }

    #[test]
    fn automatic_fields_are_optional() {
        assert!(record(3, true).get("created_time").is_some());
        assert!(record(3, false).get("created_time").is_none());
        assert!(fields(1).get("完成").is_none());
    }
}
