//! Just enough of a Dockerfile to say which base images a build uses: its stages, what each is
//! `FROM`, and which stages it copies from. A build of a target uses the bases of that stage and
//! of every stage it depends on, and nothing else (the classic builder builds every stage, but
//! what the others are built on does not end up in the image). And the one edit the tool makes
//! to a Dockerfile it sends: its labels as one `LABEL` at the end of the target stage.

/// A base image as a Dockerfile names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseRef {
    /// A build argument, `FROM ${ALPINE_IMAGE}` or `FROM $ALPINE_IMAGE`.
    Arg(String),
    /// An image named in the file, such as `scratch` or `nginx:alpine`.
    Literal(String),
}

/// The bases a build of `target` (default: the last stage) uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StageBases {
    /// The base of the target stage itself, following `FROM <stage>` to its root; `None` when
    /// the target is not in the file.
    pub own: Option<BaseRef>,
    /// Every base the target depends on (through `FROM` and `COPY --from`), in the order of
    /// the stages in the file, each once.
    pub all: Vec<BaseRef>,
}

#[derive(Debug)]
struct Stage {
    name: Option<String>,
    from: String,
    /// What its `COPY --from=` lines name: stages (by name or index) or images.
    copies_from: Vec<String>,
}

/// Reads the stages and returns the bases that a build of `target` uses.
pub fn bases(text: &str, target: Option<&str>) -> StageBases {
    let stages = stages(text);
    let index = match target {
        Some(name) => stages.iter().position(|stage| {
            stage
                .name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        }),
        None => stages.len().checked_sub(1),
    };
    let Some(index) = index else {
        return StageBases::default();
    };
    let mut used = vec![false; stages.len()];
    let mut literals = Vec::new();
    visit(&stages, index, &mut used, &mut literals);
    let mut all: Vec<BaseRef> = Vec::new();
    let mut push = |base: BaseRef| {
        if !all.contains(&base) {
            all.push(base);
        }
    };
    for (stage, used) in stages.iter().zip(&used) {
        if *used && stage_index(&stages, &stage.from, stages.len()).is_none() {
            push(base_ref(&stage.from));
        }
    }
    for literal in literals {
        push(BaseRef::Literal(literal));
    }
    StageBases {
        own: Some(own_base(&stages, index)),
        all,
    }
}

/// Marks `index` and every stage it depends on; images named by `COPY --from` go to `images`.
fn visit(stages: &[Stage], index: usize, used: &mut [bool], images: &mut Vec<String>) {
    if used[index] {
        return;
    }
    used[index] = true;
    let stage = &stages[index];
    if let Some(parent) = stage_index(stages, &stage.from, index) {
        visit(stages, parent, used, images);
    }
    for source in &stage.copies_from {
        match stage_index(stages, source, index) {
            Some(other) => visit(stages, other, used, images),
            None => images.push(source.clone()),
        }
    }
}

/// The root base of stage `index`, following `FROM <earlier stage>`.
fn own_base(stages: &[Stage], mut index: usize) -> BaseRef {
    for _ in 0..stages.len() {
        match stage_index(stages, &stages[index].from, index) {
            Some(parent) => index = parent,
            None => break,
        }
    }
    base_ref(&stages[index].from)
}

/// The earlier stage (before `before`) that `name` refers to, by name or by number.
fn stage_index(stages: &[Stage], name: &str, before: usize) -> Option<usize> {
    if let Ok(number) = name.parse::<usize>() {
        return (number < before).then_some(number);
    }
    stages[..before.min(stages.len())]
        .iter()
        .rposition(|stage| {
            stage
                .name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
}

fn base_ref(from: &str) -> BaseRef {
    let arg = from
        .strip_prefix("${")
        .and_then(|rest| rest.strip_suffix('}'))
        .or_else(|| from.strip_prefix('$'));
    match arg {
        Some(name) if !name.is_empty() => BaseRef::Arg(name.to_string()),
        _ => BaseRef::Literal(from.to_string()),
    }
}

/// The Dockerfile with one `LABEL` instruction holding every label added at the end of the
/// `target` stage (default: the last), or `None` when the file has no such stage.
///
/// The classic builder turns the build API's labels into one `LABEL` step per label, each a
/// container committed on top of the image: for a large image, seconds apiece, and every commit
/// changes the `created` and `revision` labels, so every commit paid for them all again. One
/// instruction is one step.
pub fn with_labels(
    text: &str,
    target: Option<&str>,
    labels: &std::collections::BTreeMap<String, String>,
) -> Option<String> {
    // The lines that start a stage: a FROM at the start of an instruction, not a continuation.
    let lines: Vec<&str> = text.lines().collect();
    let mut starts = Vec::new();
    let mut continued = false;
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        let is_comment = trimmed.starts_with('#');
        if !continued && !is_comment {
            let keyword = trimmed.split_whitespace().next().unwrap_or("");
            if keyword.eq_ignore_ascii_case("FROM") {
                starts.push(index);
            }
        }
        if !is_comment && !trimmed.is_empty() {
            continued = trimmed.ends_with('\\');
        }
    }
    let stages = stages(text);
    if stages.len() != starts.len() || stages.is_empty() {
        return None;
    }
    let index = match target {
        None => stages.len() - 1,
        Some(name) => stages.iter().position(|stage| {
            stage
                .name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })?,
    };
    let at = starts.get(index + 1).copied().unwrap_or(lines.len());
    if labels.is_empty() {
        return Some(text.to_string());
    }
    let quoted: Vec<String> = labels
        .iter()
        .map(|(key, value)| format!("{}={}", quote(key), quote(value)))
        .collect();
    let instruction = format!("LABEL {}", quoted.join(" \\\n      "));
    let mut out: Vec<String> = lines[..at].iter().map(|l| l.to_string()).collect();
    // A stage that ends in a continuation line would swallow the instruction.
    if out.last().is_some_and(|l| l.trim_end().ends_with('\\')) {
        return None;
    }
    out.push(instruction);
    out.extend(lines[at..].iter().map(|l| l.to_string()));
    Some(out.join("\n") + "\n")
}

/// A Dockerfile word in double quotes: a backslash, a quote and a `$` (which the builder would
/// expand) escaped, line breaks made spaces.
fn quote(raw: &str) -> String {
    let mut out = String::from("\"");
    for c in raw.chars() {
        match c {
            '\\' | '"' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The stages of a Dockerfile, continuation lines joined and comments left out.
fn stages(text: &str) -> Vec<Stage> {
    let mut stages: Vec<Stage> = Vec::new();
    for line in instructions(text) {
        let mut words = line.split_whitespace();
        let Some(keyword) = words.next() else {
            continue;
        };
        let words: Vec<&str> = words.collect();
        if keyword.eq_ignore_ascii_case("FROM") {
            let mut rest = words.iter().filter(|word| !word.starts_with("--"));
            let Some(from) = rest.next() else {
                continue;
            };
            let name = match (rest.next(), rest.next()) {
                (Some(as_), Some(name)) if as_.eq_ignore_ascii_case("AS") => Some(name.to_string()),
                _ => None,
            };
            stages.push(Stage {
                name,
                from: from.to_string(),
                copies_from: Vec::new(),
            });
        } else if keyword.eq_ignore_ascii_case("COPY") {
            let source = words.iter().find_map(|word| word.strip_prefix("--from="));
            if let (Some(stage), Some(source)) = (stages.last_mut(), source) {
                stage.copies_from.push(source.to_string());
            }
        }
    }
    stages
}

/// The instructions of a Dockerfile, each on one line.
fn instructions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') && current.is_empty() || trimmed.is_empty() {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn labels_go_at_the_end_of_the_target_stage_in_one_instruction() {
        let text = "ARG A=x\nFROM a AS builder\nRUN make \\\n  all\n\nFROM builder AS test\nRUN check\nFROM scratch\nCOPY --from=test /x /x\n";
        let two = labels(&[("b", "2"), ("a", "say \"hi\" $HOME")]);
        let last = with_labels(text, None, &two).unwrap();
        assert!(
            last.ends_with("COPY --from=test /x /x\nLABEL \"a\"=\"say \\\"hi\\\" \\$HOME\" \\\n      \"b\"=\"2\"\n"),
            "{last}"
        );
        let builder = with_labels(text, Some("builder"), &labels(&[("k", "v")])).unwrap();
        assert!(
            builder.contains("  all\n\nLABEL \"k\"=\"v\"\nFROM builder AS test\n"),
            "{builder}"
        );
        assert_eq!(with_labels(text, Some("nope"), &two), None);
        // A FROM inside a continuation is no stage: the labels go after the whole RUN.
        let tricky = "FROM a AS one\nRUN echo \\\nFROM b\n";
        let one = with_labels(tricky, Some("one"), &labels(&[("k", "v")])).unwrap();
        assert_eq!(
            one,
            "FROM a AS one\nRUN echo \\\nFROM b\nLABEL \"k\"=\"v\"\n"
        );
    }

    const GO: &str = "\
ARG GO_IMAGE=golang:1.23-alpine3.20
ARG ALPINE_IMAGE=alpine:3.20.3
FROM ${GO_IMAGE} AS builder
RUN go build \\
    -o webtest .
FROM builder AS test
RUN go test ./...
FROM scratch AS static
COPY --from=test /build/webtest /webtest
FROM $DISTROLESS_IMAGE AS distroless
COPY --from=test /build/webtest /webtest
# FROM nothing AS commented
FROM ${ALPINE_IMAGE} AS prod
COPY --from=test /build/webtest .
COPY --from=nginx:alpine /etc/nginx/mime.types /etc/
";

    fn arg(name: &str) -> BaseRef {
        BaseRef::Arg(name.into())
    }

    #[test]
    fn the_last_stage_uses_its_own_base_and_its_sources() {
        let bases = bases(GO, None);
        assert_eq!(bases.own, Some(arg("ALPINE_IMAGE")));
        assert_eq!(
            bases.all,
            [
                arg("GO_IMAGE"),
                arg("ALPINE_IMAGE"),
                BaseRef::Literal("nginx:alpine".into())
            ]
        );
    }

    #[test]
    fn a_target_follows_from_stages_to_their_root() {
        assert_eq!(bases(GO, Some("test")).own, Some(arg("GO_IMAGE")));
        assert_eq!(bases(GO, Some("test")).all, [arg("GO_IMAGE")]);
        let scratch = bases(GO, Some("static"));
        assert_eq!(scratch.own, Some(BaseRef::Literal("scratch".into())));
        assert_eq!(
            scratch.all,
            [arg("GO_IMAGE"), BaseRef::Literal("scratch".into())]
        );
        assert_eq!(
            bases(GO, Some("distroless")).own,
            Some(arg("DISTROLESS_IMAGE"))
        );
        assert_eq!(bases(GO, Some("missing")), StageBases::default());
    }

    #[test]
    fn a_single_stage_file_has_one_base() {
        let text = "ARG NODE_IMAGE=node:22\nFROM ${NODE_IMAGE}\nRUN npm ci\n";
        let bases = bases(text, None);
        assert_eq!(bases.own, Some(arg("NODE_IMAGE")));
        assert_eq!(bases.all, [arg("NODE_IMAGE")]);
    }
}
