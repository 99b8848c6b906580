//! Just enough of a Dockerfile to say which base images a build uses: its stages, what each is
//! `FROM`, and which stages it copies from. A build of a target uses the bases of that stage and
//! of every stage it depends on, and nothing else (the classic builder builds every stage, but
//! what the others are built on does not end up in the image).

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
