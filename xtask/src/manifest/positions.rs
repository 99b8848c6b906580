//! Where every field of the manifest is written. serde_yaml keeps no positions once a value is
//! parsed, so the text is also walked as a stream of YAML events (with yaml-rust2), which gives
//! every field path its key's and its value's line and column, and notices what serde_yaml
//! would let pass or report without a place: duplicate keys and a second document.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::ScanError;

/// A place in the manifest's text, 1-based as editors and compilers count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pos {
    pub(super) line: usize,
    pub(super) column: usize,
    /// The byte offset, to tell which of two places comes first.
    pub(super) index: usize,
}

impl Pos {
    pub(super) const START: Pos = Pos {
        line: 1,
        column: 1,
        index: 0,
    };

    /// yaml-rust2's markers count lines from 1 but columns from 0 (its documentation says 1;
    /// the test `markers_count_columns_from_zero` pins what it does).
    pub(super) fn of(marker: &Marker) -> Pos {
        Pos {
            line: marker.line(),
            column: marker.col() + 1,
            index: marker.index(),
        }
    }
}

/// What the top of the document is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Shape {
    Mapping,
    Sequence,
    Scalar(String),
    Alias,
}

impl Shape {
    pub(super) fn describe(&self) -> String {
        match self {
            Shape::Mapping => "a mapping".into(),
            Shape::Sequence => "a list".into(),
            Shape::Scalar(text) if text.chars().count() > 40 => {
                format!(
                    "the text `{}...`",
                    text.chars().take(40).collect::<String>()
                )
            }
            Shape::Scalar(text) => format!("the text `{text}`"),
            Shape::Alias => "an alias".into(),
        }
    }
}

/// Where one field is: its key, its value, and the value's text when it is a scalar.
#[derive(Debug, Default, Clone)]
struct Spot {
    key: Option<Pos>,
    value: Option<Pos>,
    text: Option<String>,
}

/// A key written twice in one mapping.
#[derive(Debug, Clone)]
pub(super) struct Duplicate {
    pub(super) path: String,
    pub(super) at: Pos,
    pub(super) first: Pos,
}

/// The position of every field of a YAML document, by field path in serde_yaml's notation:
/// `port`, `variants.simples.dockerfile`, `budgets[1].max_size.bytes`. The root is `""`.
#[derive(Debug, Default)]
pub(super) struct Spots {
    fields: HashMap<String, Spot>,
    /// The shape of the document's top node, or `None` when the document is empty.
    pub(super) root: Option<Shape>,
    /// The first key written twice in a mapping, which serde_yaml would let pass silently for
    /// a map (the last one wins) and report without a position for a struct.
    pub(super) duplicate: Option<Duplicate>,
    /// The `---` of a second document, which serde_yaml refuses without saying where it is.
    pub(super) second_document: Option<Pos>,
}

/// An open collection during the walk over the events.
enum Frame {
    Mapping {
        path: String,
        /// The key whose value comes next, or `None` when a key comes next.
        key: Option<String>,
        /// The keys seen so far and where, to find duplicates.
        seen: HashMap<String, Pos>,
        fresh: bool,
    },
    Sequence {
        path: String,
        next: usize,
        fresh: bool,
    },
}

impl Frame {
    /// The collection's path, and whether no child has been seen yet (which clears the flag).
    fn first_child(&mut self) -> (&str, bool) {
        match self {
            Frame::Mapping { path, fresh, .. } | Frame::Sequence { path, fresh, .. } => {
                (path, std::mem::replace(fresh, false))
            }
        }
    }
}

impl Spots {
    /// Walks the first document of `text` and notes where every key and value is.
    pub(super) fn read(text: &str) -> Result<Spots, ScanError> {
        let mut spots = Spots::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut parser = Parser::new_from_str(text);
        loop {
            let (event, marker) = parser.next_token()?;
            let pos = Pos::of(&marker);
            match event {
                Event::StreamEnd => break,
                // The manifest is one document: only where a second one starts is of interest.
                Event::DocumentEnd => {
                    if let Ok((Event::DocumentStart, marker)) = parser.next_token() {
                        spots.second_document = Some(Pos::of(&marker));
                    }
                    break;
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                Event::Scalar(..)
                | Event::Alias(..)
                | Event::MappingStart(..)
                | Event::SequenceStart(..) => spots.node(&mut stack, event, pos),
                Event::Nothing | Event::StreamStart | Event::DocumentStart => {}
            }
        }
        Ok(spots)
    }

    /// Notes one node, a key or a value, and opens a frame for a collection.
    fn node(&mut self, stack: &mut Vec<Frame>, event: Event, pos: Pos) {
        let text = match &event {
            Event::Scalar(text, ..) => Some(text.clone()),
            _ => None,
        };
        if let Some(parent) = stack.last_mut() {
            // yaml-rust2 marks a block collection after its first key (where the value
            // starts), so a collection starts where its first child does when that is earlier.
            let (path, first) = parent.first_child();
            if first {
                let spot = self.fields.entry(path.to_string()).or_default();
                if spot.value.is_none_or(|value| pos.index < value.index) {
                    spot.value = Some(pos);
                }
            }
        }
        let path = match stack.last_mut() {
            None => {
                self.root = Some(match &event {
                    Event::MappingStart(..) => Shape::Mapping,
                    Event::SequenceStart(..) => Shape::Sequence,
                    Event::Alias(..) => Shape::Alias,
                    _ => match text.as_deref() {
                        // A document of only comments, or of a bare null, holds nothing.
                        None | Some("" | "~" | "null" | "Null" | "NULL") => {
                            self.root = None;
                            return;
                        }
                        Some(text) => Shape::Scalar(text.to_string()),
                    },
                });
                String::new()
            }
            Some(Frame::Sequence { path, next, .. }) => {
                *next += 1;
                format!("{path}[{}]", *next - 1)
            }
            Some(Frame::Mapping {
                path, key, seen, ..
            }) => match key.take() {
                Some(key) => join_path(path, &key),
                None => {
                    // A key. One that is itself a collection cannot name a field; it is
                    // walked under a placeholder so that its own nodes stay balanced.
                    let name = text.clone().unwrap_or_else(|| "?".into());
                    let full = join_path(path, &name);
                    match seen.get(&name) {
                        Some(&first) if self.duplicate.is_none() => {
                            self.duplicate = Some(Duplicate {
                                path: full.clone(),
                                at: pos,
                                first,
                            });
                        }
                        Some(_) => {}
                        None => {
                            seen.insert(name.clone(), pos);
                            self.fields.entry(full.clone()).or_default().key = Some(pos);
                        }
                    }
                    *key = Some(name);
                    self.open(stack, &event, format!("{full}?"));
                    return;
                }
            },
        };
        let spot = self.fields.entry(path.clone()).or_default();
        // A value left empty (`target:`) is marked where the next token starts, often on a
        // later line; its key is the place to point at.
        let empty =
            matches!(&event, Event::Scalar(text, TScalarStyle::Plain, ..) if text.is_empty());
        spot.value = match (empty, spot.key) {
            (true, Some(key)) => Some(key),
            _ => Some(pos),
        };
        spot.text = text;
        self.open(stack, &event, path);
    }

    fn open(&self, stack: &mut Vec<Frame>, event: &Event, path: String) {
        match event {
            Event::MappingStart(..) => stack.push(Frame::Mapping {
                path,
                key: None,
                seen: HashMap::new(),
                fresh: true,
            }),
            Event::SequenceStart(..) => stack.push(Frame::Sequence {
                path,
                next: 0,
                fresh: true,
            }),
            _ => {}
        }
    }

    /// Whether `path` names a field that is written.
    pub(super) fn has(&self, path: &str) -> bool {
        self.fields.contains_key(path)
    }

    pub(super) fn value(&self, path: &str) -> Option<Pos> {
        self.fields.get(path).and_then(|spot| spot.value)
    }

    pub(super) fn key(&self, path: &str) -> Option<Pos> {
        self.fields.get(path).and_then(|spot| spot.key)
    }

    pub(super) fn text(&self, path: &str) -> Option<&str> {
        self.fields.get(path).and_then(|spot| spot.text.as_deref())
    }

    /// Where to point for `path`: its value, or for a field left out (and so defaulted), the
    /// key of the nearest enclosing field that is written, or the top of the document.
    pub(super) fn near(&self, path: &str) -> Pos {
        if let Some(pos) = self.value(path) {
            return pos;
        }
        let mut path = path;
        while let Some(index) = path.rfind(['.', '[']) {
            path = &path[..index];
            if let Some(pos) = self.key(path).or_else(|| self.value(path)) {
                return pos;
            }
        }
        self.value("").unwrap_or(Pos::START)
    }
}

fn join_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}
