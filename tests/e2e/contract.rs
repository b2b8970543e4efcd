//! The component's contract stays small and checked: feishu.wasm imports only the interfaces the
//! `source` world in wit/ declares (ours, WASI HTTP and what Rust's std needs; never filesystem
//! or sockets), and the WIT embedded in the component agrees with wit/ function by function.
//! The edge build exports the standard `wasi:http/incoming-handler` and imports nothing of ours.

use crate::harness::{component, guest_component, workspace};
use std::collections::BTreeMap;
use wit_parser::decoding::{DecodedWasm, decode};
use wit_parser::{Function, Resolve, Type, TypeDefKind, WorldItem, WorldKey};

/// Interface prefixes feishu.wasm may import.
const ALLOWED_IMPORTS: [&str; 8] = [
    "wasi:random/insecure-seed@",
    "datasource:connector/",
    "wasi:http/types@",
    "wasi:http/outgoing-handler@",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:cli/",
    "wasi:random/random@",
];

/// Fails on an import outside [`ALLOWED_IMPORTS`].
fn assert_within_contract(imports: &Surface) {
    let unexpected: Vec<&String> = imports
        .keys()
        .filter(|i| !ALLOWED_IMPORTS.iter().any(|prefix| i.starts_with(prefix)))
        .collect();
    assert!(
        unexpected.is_empty(),
        "imports outside the contract: {unexpected:?}"
    );
}

/// A world's imports or exports: interface name (or function name) → its functions' signatures.
type Surface = BTreeMap<String, BTreeMap<String, String>>;

fn render(resolve: &Resolve, ty: &Type) -> String {
    let Type::Id(id) = ty else {
        return format!("{ty:?}").to_lowercase();
    };
    let def = &resolve.types[*id];
    let name = def.name.clone().unwrap_or_default();
    let some = |t: &Option<Type>| t.as_ref().map_or("_".into(), |t| render(resolve, t));
    match &def.kind {
        TypeDefKind::Type(inner) => render(resolve, inner),
        TypeDefKind::Record(r) => {
            let fields: Vec<String> = r
                .fields
                .iter()
                .map(|f| format!("{}: {}", f.name, render(resolve, &f.ty)))
                .collect();
            format!("record {name} {{{}}}", fields.join(", "))
        }
        TypeDefKind::Variant(v) => {
            let cases: Vec<String> = v
                .cases
                .iter()
                .map(|c| format!("{}({})", c.name, some(&c.ty)))
                .collect();
            format!("variant {name} {{{}}}", cases.join(", "))
        }
        TypeDefKind::Enum(e) => {
            let cases: Vec<&str> = e.cases.iter().map(|c| c.name.as_str()).collect();
            format!("enum {name} {{{}}}", cases.join(", "))
        }
        TypeDefKind::Flags(f) => {
            let flags: Vec<&str> = f.flags.iter().map(|c| c.name.as_str()).collect();
            format!("flags {name} {{{}}}", flags.join(", "))
        }
        TypeDefKind::Tuple(t) => {
            let items: Vec<String> = t.types.iter().map(|t| render(resolve, t)).collect();
            format!("tuple<{}>", items.join(", "))
        }
        TypeDefKind::Option(t) => format!("option<{}>", render(resolve, t)),
        TypeDefKind::Result(r) => format!("result<{}, {}>", some(&r.ok), some(&r.err)),
        TypeDefKind::List(t) => format!("list<{}>", render(resolve, t)),
        TypeDefKind::Handle(wit_parser::Handle::Own(r)) => {
            format!("own<{}>", render(resolve, &Type::Id(*r)))
        }
        TypeDefKind::Handle(wit_parser::Handle::Borrow(r)) => {
            format!("borrow<{}>", render(resolve, &Type::Id(*r)))
        }
        TypeDefKind::Resource => format!("resource {name}"),
        other => format!("{other:?}"),
    }
}

fn signature(resolve: &Resolve, function: &Function) -> String {
    let params: Vec<String> = function
        .params
        .iter()
        .map(|p| format!("{}: {}", p.name, render(resolve, &p.ty)))
        .collect();
    let result = function
        .result
        .as_ref()
        .map_or(String::new(), |t| format!(" -> {}", render(resolve, t)));
    format!("func({}){result}", params.join(", "))
}

fn surface<'a>(
    resolve: &Resolve,
    items: impl Iterator<Item = (&'a WorldKey, &'a WorldItem)>,
) -> Surface {
    let mut out = Surface::new();
    for (key, item) in items {
        match item {
            WorldItem::Interface { id, .. } => {
                let name = resolve
                    .id_of(*id)
                    .unwrap_or_else(|| resolve.name_world_key(key));
                let functions = resolve.interfaces[*id]
                    .functions
                    .iter()
                    .map(|(n, f)| (n.clone(), signature(resolve, f)))
                    .collect();
                out.insert(name, functions);
            }
            WorldItem::Function(f) => {
                out.insert(
                    f.name.clone(),
                    BTreeMap::from([(f.name.clone(), signature(resolve, f))]),
                );
            }
            WorldItem::Type { .. } => {}
        }
    }
    out
}

/// The `source` world as wit/ declares it: (imports, exports).
fn declared() -> (Surface, Surface) {
    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_dir(workspace().join("wit"))
        .expect("wit/ parses");
    let world = resolve
        .select_world(&[package], Some("source"))
        .expect("world source");
    let world = &resolve.worlds[world];
    (
        surface(&resolve, world.imports.iter()),
        surface(&resolve, world.exports.iter()),
    )
}

/// The world embedded in feishu.wasm: (imports, exports).
fn embedded() -> (Surface, Surface) {
    embedded_in(component())
}

/// The world embedded in a component file: (imports, exports).
fn embedded_in(path: &std::path::Path) -> (Surface, Surface) {
    let bytes = std::fs::read(path).expect("read the component");
    let DecodedWasm::Component(resolve, world) = decode(&bytes).expect("decode feishu.wasm") else {
        panic!("feishu.wasm is not a component");
    };
    let world = &resolve.worlds[world];
    (
        surface(&resolve, world.imports.iter()),
        surface(&resolve, world.exports.iter()),
    )
}

#[test]
fn the_component_imports_only_the_expected_interfaces() {
    let (imports, _) = embedded();
    assert_within_contract(&imports);
    assert!(
        imports.contains_key("datasource:connector/host@0.1.0"),
        "{imports:?}"
    );
    assert!(
        !imports
            .keys()
            .any(|i| i.starts_with("wasi:filesystem") || i.starts_with("wasi:sockets"))
    );
}

#[test]
fn the_embedded_wit_agrees_with_wit_dir() {
    let (declared_imports, declared_exports) = declared();
    let (imports, exports) = embedded();
    assert_eq!(exports, declared_exports, "exports differ from wit/");
    for (interface, functions) in &imports {
        let declared = declared_imports
            .get(interface)
            .unwrap_or_else(|| panic!("{interface} is imported but wit/ does not declare it"));
        for (name, signature) in functions {
            assert_eq!(
                declared.get(name),
                Some(signature),
                "{interface}.{name} differs from wit/"
            );
        }
    }
    // Our own interfaces are used whole: a function wit/ declares but the component lacks
    // means the two have drifted apart.
    for ours in [
        "datasource:connector/host@0.1.0",
        "datasource:connector/files@0.1.0",
    ] {
        assert_eq!(imports.get(ours), declared_imports.get(ours), "{ours}");
    }
}

/// Builds the edge component as `scripts/edge-serve.sh` does, in its own target directory.
fn edge_component() -> std::path::PathBuf {
    guest_component("edge", "feishu_edge", "target/edge")
}

#[test]
fn the_edge_build_is_a_plain_proxy_component() {
    let (imports, exports) = embedded_in(&edge_component());
    let exported: Vec<&String> = exports.keys().collect();
    assert_eq!(exported, ["wasi:http/incoming-handler@0.2.12"]);
    assert_within_contract(&imports);
    assert!(
        !imports.keys().any(|i| i.starts_with("datasource:")),
        "a proxy-world runtime cannot provide our host interface: {imports:?}"
    );
}
