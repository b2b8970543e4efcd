//! The mock Base's deterministic content: one table of N records with realistic values
//! (unicode text, numbers, selects, dates, users, links, attachments) in the shapes the records
//! search endpoint returns.

use serde_json::{Value, json};

/// Base and table ids of the mock.
pub const APP_TOKEN: &str = "bascnMockBase0001";
pub const TABLE_ID: &str = "tblMockTable0001";
pub const TABLE_NAME: &str = "项目任务 Tasks";

/// Epoch ms of record 0's creation; later records are a minute apart.
const BASE_TIME_MS: i64 = 1_735_689_600_000;

/// Stable, unique record id of the record at `index`.
pub fn record_id(index: usize) -> String {
    format!(
        "rec{:010x}",
        (index as u64).wrapping_mul(0x9E37_79B9) ^ 0x5A5A_5A5A
    )
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
        "任务名称": [{"type": "text", "text": format!("任务 #{index} — ünïcödé \"quoted\" \\ line\nbreak 🚀")}],
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

/// Record `index` as the search endpoint returns it (`automatic` = `automatic_fields`).
pub fn record(index: usize, automatic: bool) -> Value {
    let mut r = json!({"record_id": record_id(index), "fields": fields(index)});
    if automatic {
        let created = BASE_TIME_MS + index as i64 * 60_000;
        r["created_time"] = json!(created);
        r["last_modified_time"] = json!(created + 30_000);
        r["created_by"] = person(index);
        r["last_modified_by"] = person(index + 1);
    }
    r
}

/// The table's fields list (`GET .../fields` items).
pub fn field_list() -> Vec<Value> {
    let field = |id: usize, name: &str, ty: u32, ui: &str| {
        json!({"field_id": format!("fld{id:07}"), "field_name": name, "type": ty, "ui_type": ui,
               "is_primary": id == 1, "is_hidden": false, "property": null, "description": ""})
    };
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
