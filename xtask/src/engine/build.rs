//! Building images with the classic builder: the build request, its streamed steps, and what a
//! failed build leaves behind.

use bollard::query_parameters::TagImageOptionsBuilder;

use super::*;

impl Engine {
    /// Builds an image with the classic builder, reporting each step through `on`.
    pub async fn build(
        &self,
        spec: BuildSpec<'_>,
        on: &mut (dyn FnMut(BuildEvent) + Send),
    ) -> Result<Built> {
        let build_args: HashMap<&str, &str> = spec
            .build_args
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let labels: HashMap<&str, &str> = spec
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut options = BuildImageOptionsBuilder::default()
            .dockerfile(spec.dockerfile)
            .t(spec.tag)
            .buildargs(&build_args)
            .labels(&labels)
            .nocache(spec.no_cache)
            .rm(true)
            // Without forcerm a failed RUN leaves its container behind.
            .forcerm(true)
            .version(BuilderVersion::BuilderV1);
        if let Some(target) = spec.target {
            options = options.target(target);
        }
        let mut stream = self.docker.build_image(
            options.build(),
            None,
            Some(bollard::body_full(spec.context_tar.into())),
        );
        let mut id = None;
        let (mut steps, mut cached) = (0, 0);
        let mut in_stage = false;
        let mut step: Option<String> = None;
        let mut output: Vec<String> = Vec::new();
        let mut partial = String::new();
        self.building
            .lock()
            .expect("build registry")
            .insert(spec.tag.to_string(), Vec::new());
        // Whether the current step's image came from elsewhere: the cache, or a FROM.
        let mut step_cached = false;
        // Whether the current step is a FROM, whose image is a base and never the build's own.
        let mut from_step = false;
        // Every step image the result is made of, made now or taken from the cache.
        let mut images = Vec::new();
        let mut made = Vec::new();
        // The stages seen so far, each with its last image, and the names later stages start from.
        let mut stages: Vec<(String, Option<String>)> = Vec::new();
        let mut continued: Vec<String> = Vec::new();
        while let Some(item) = stream.next().await {
            let info = match item {
                Ok(info) => info,
                Err(err) => {
                    let message = match err {
                        DockerError::DockerStreamError { error } => error,
                        DockerError::DockerResponseServerError { message, .. } => message,
                        other => format!("{other:#}"),
                    };
                    if !partial.is_empty() {
                        output.push(std::mem::take(&mut partial));
                    }
                    let keep = output.len().saturating_sub(40);
                    // The steps that succeeded left images; nothing tagged uses them, so they go
                    // with the failed build.
                    self.remove_unfinished_build(Some(spec.tag)).await;
                    return Err(BuildFailed {
                        tag: spec.tag.to_string(),
                        step,
                        output: output.split_off(keep),
                        message,
                    }
                    .into());
                }
            };
            if let Some(aux) = info.aux.and_then(|aux| aux.id) {
                // The classic builder reports one image ID per stage; the last is the image.
                id = Some(aux);
            }
            let Some(text) = info.stream else { continue };
            partial.push_str(&text);
            while let Some(end) = partial.find('\n') {
                let line: String = partial.drain(..=end).collect();
                let line = line.trim_end().to_string();
                if let Some(event) = parse_build_line(&line) {
                    match &event {
                        BuildEvent::Step {
                            number,
                            total,
                            instruction,
                        } => {
                            // A FROM step only names the base, and an ARG before the first
                            // FROM only declares a name: neither ever reports a cache hit, so
                            // neither counts among the steps that may be rebuilt.
                            let is_from = instruction.to_ascii_uppercase().starts_with("FROM ");
                            if is_from {
                                let (base, name) = from_parts(instruction);
                                continued.push(base);
                                let index = stages.len().to_string();
                                stages.push((name.unwrap_or(index), None));
                            }
                            in_stage |= is_from;
                            if in_stage && !is_from {
                                steps += 1;
                            }
                            step = Some(format!("step {number}/{total} `{instruction}`"));
                            output.clear();
                            // A FROM step names an image the build did not make: never remove it.
                            step_cached = is_from;
                            from_step = is_from;
                        }
                        BuildEvent::Cached => {
                            cached += 1;
                            step_cached = true;
                        }
                        BuildEvent::Output(text) => output.push(text.clone()),
                        BuildEvent::Made(id) => {
                            if !from_step {
                                images.push(id.clone());
                                if let Some((_, last)) = stages.last_mut() {
                                    *last = Some(id.clone());
                                }
                            }
                            // Only what this build made itself, not what it took from the cache.
                            if !step_cached {
                                made.push(id.clone());
                                self.building
                                    .lock()
                                    .expect("build registry")
                                    .entry(spec.tag.to_string())
                                    .or_default()
                                    .push(id.clone());
                            }
                            continue;
                        }
                        // A step's container is tracked while it runs, so that an interrupted
                        // build does not leave it behind.
                        BuildEvent::RunningIn(id) => {
                            self.live
                                .lock()
                                .expect("container registry")
                                .insert(id.clone());
                            continue;
                        }
                        BuildEvent::Removed(id) => {
                            self.live
                                .lock()
                                .expect("container registry")
                                .retain(|known| !known.starts_with(id.as_str()));
                            continue;
                        }
                    }
                    on(event);
                }
            }
        }
        // The images belong to the tagged result now.
        self.building
            .lock()
            .expect("build registry")
            .remove(spec.tag);
        let id = id.ok_or_else(|| {
            anyhow!(
                "the engine finished building {} without naming an image",
                spec.tag
            )
        })?;
        // The last stage's end is the result itself.
        stages.pop();
        let stage_ends = stages
            .into_iter()
            .filter(|(name, _)| !continued.iter().any(|base| base.eq_ignore_ascii_case(name)))
            .filter_map(|(stage, last)| last.map(|id| StageEnd { stage, id }))
            .collect();
        Ok(Built {
            id,
            steps,
            cached,
            images,
            made,
            stage_ends,
        })
    }

    /// Tags the end of a stage that the build keeps as the next build's cache, so that it is
    /// named rather than left untagged. Unlike [`Engine::tag`], the tag stays after the run.
    pub async fn tag_stage_end(&self, id: &str, repo: &str, tag: &str) -> Result<()> {
        let options = TagImageOptionsBuilder::default()
            .repo(repo)
            .tag(tag)
            .build();
        self.docker
            .tag_image(id, Some(options))
            .await
            .with_context(|| format!("tag {id} as {repo}:{tag}"))
    }

    /// Removes one image a newer build superseded, keeping its parents (the cache the newer
    /// build may share). An image still in use, or already gone, stays or is skipped quietly:
    /// it is only garbage, and `clean` reports what is left.
    pub async fn remove_superseded(&self, id: &str) -> bool {
        let options = RemoveImageOptionsBuilder::default().noprune(true).build();
        self.docker
            .remove_image(id, Some(options), None)
            .await
            .is_ok()
    }

    /// Removes an image the tool built that has no tag left, with the untagged parents nothing
    /// else uses (the engine prunes them), and says how many images went. An image that a
    /// container uses or another image builds on, that has a tag, or that lacks the tool's
    /// label (a user's own build under the same tag), stays.
    pub async fn remove_if_untagged(&self, id: &str) -> usize {
        let ours_and_untagged = match self.docker.inspect_image(id).await {
            Ok(inspect) => {
                let labelled =
                    inspect
                        .config
                        .and_then(|config| config.labels)
                        .is_some_and(|labels| {
                            labels.get(crate::labels::LABEL).map(String::as_str) == Some("1")
                        });
                labelled && inspect.repo_tags.unwrap_or_default().is_empty()
            }
            Err(_) => false,
        };
        if !ours_and_untagged {
            return 0;
        }
        let options = RemoveImageOptionsBuilder::default().build();
        match self.docker.remove_image(id, Some(options), None).await {
            Ok(items) => items.iter().filter(|item| item.deleted.is_some()).count(),
            Err(_) => 0,
        }
    }

    /// Removes the images of the build of `tag` that did not finish, or of every build under
    /// way with `None` (builds of several apps run at once). `noprune` keeps their parents,
    /// which the builds took from the cache or a FROM.
    pub(super) async fn remove_unfinished_build(&self, tag: Option<&str>) {
        // Each build's images newest first (each was the parent of the next).
        let mut left: Vec<String> = {
            let mut building = self.building.lock().expect("build registry");
            let builds: Vec<Vec<String>> = match tag {
                Some(tag) => building.remove(tag).into_iter().collect(),
                None => std::mem::take(&mut *building).into_values().collect(),
            };
            builds
                .into_iter()
                .flat_map(|made| made.into_iter().rev())
                .collect()
        };
        // Builds under way at once share images through the cache (one build's step image is
        // the parent of another's next step), and an interrupted step's container holds its
        // image until the engine has removed it, a moment later: what is refused as in use is
        // tried again, pass after pass, for up to 5 s.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !left.is_empty() {
            let mut refused = Vec::new();
            for id in std::mem::take(&mut left) {
                let options = RemoveImageOptionsBuilder::default().noprune(true);
                if let Err(DockerError::DockerResponseServerError {
                    status_code: 409, ..
                }) = self.remove_image_with(&id, options).await
                {
                    refused.push(id);
                }
            }
            if refused.is_empty() || std::time::Instant::now() >= deadline {
                break;
            }
            left = refused;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// The base a `FROM` instruction names and the stage name it gives (`FROM builder AS test`
/// gives `builder` and `test`); flags such as `--platform=…` are skipped.
fn from_parts(instruction: &str) -> (String, Option<String>) {
    let mut words = instruction
        .split_whitespace()
        .skip(1)
        .filter(|word| !word.starts_with("--"));
    let base = words.next().unwrap_or_default().to_string();
    let name = match (words.next(), words.next()) {
        (Some(as_), Some(name)) if as_.eq_ignore_ascii_case("as") => Some(name.to_string()),
        _ => None,
    };
    (base, name)
}

/// Reads one line of the classic builder's output. The engine paints a step's standard error
/// red with ANSI codes; they are taken out, so that logs and files hold plain text.
fn parse_build_line(line: &str) -> Option<BuildEvent> {
    let plain = console::strip_ansi_codes(line);
    let line = plain.trim_end();
    if let Some(rest) = line.strip_prefix("Step ") {
        if let Some((counts, instruction)) = rest.split_once(" : ") {
            if let Some((number, total)) = counts.split_once('/') {
                if let (Ok(number), Ok(total)) = (number.parse(), total.parse()) {
                    return Some(BuildEvent::Step {
                        number,
                        total,
                        instruction: instruction.to_string(),
                    });
                }
            }
        }
    }
    let trimmed = line.trim();
    if trimmed == "---> Using cache" {
        return Some(BuildEvent::Cached);
    }
    if let Some(id) = trimmed.strip_prefix("---> Running in ") {
        return Some(BuildEvent::RunningIn(id.trim().to_string()));
    }
    if let Some(id) = trimmed.strip_prefix("Removing intermediate container ") {
        return Some(BuildEvent::Removed(id.trim().to_string()));
    }
    if let Some(id) = trimmed.strip_prefix("---> ") {
        if id.len() >= 12 && id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Some(BuildEvent::Made(id.to_string()));
        }
    }
    // The builder's own bookkeeping lines say nothing a person needs.
    if trimmed.is_empty()
        || trimmed.starts_with("---> ")
        || trimmed.starts_with("Removing intermediate container")
        || trimmed.starts_with("Successfully built")
        || trimmed.starts_with("Successfully tagged")
        || trimmed.starts_with("Sending build context")
    {
        return None;
    }
    Some(BuildEvent::Output(line.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_from_gives_its_base_and_its_stage_name() {
        assert_eq!(
            from_parts("FROM builder AS test"),
            ("builder".into(), Some("test".into()))
        );
        assert_eq!(
            from_parts("FROM --platform=linux/amd64 ${RUST_IMAGE} as builder"),
            ("${RUST_IMAGE}".into(), Some("builder".into()))
        );
        assert_eq!(from_parts("FROM scratch"), ("scratch".into(), None));
    }

    #[test]
    fn build_lines_are_read() {
        assert_eq!(
            parse_build_line("Step 3/12 : RUN cargo build --release"),
            Some(BuildEvent::Step {
                number: 3,
                total: 12,
                instruction: "RUN cargo build --release".into()
            })
        );
        assert_eq!(
            parse_build_line(" ---> Using cache"),
            Some(BuildEvent::Cached)
        );
        assert_eq!(
            parse_build_line(" ---> 3f2a1b9c0d1e"),
            Some(BuildEvent::Made("3f2a1b9c0d1e".into()))
        );
        assert_eq!(
            parse_build_line(
                "\u{1b}[91merror[E0308]\u{1b}[0m\u{1b}[91m: mismatched types\u{1b}[0m"
            ),
            Some(BuildEvent::Output("error[E0308]: mismatched types".into()))
        );
        assert_eq!(
            parse_build_line("\u{1b}[0mRemoving intermediate container 5dc1e7813eee"),
            Some(BuildEvent::Removed("5dc1e7813eee".into()))
        );
        assert_eq!(
            parse_build_line(" ---> Running in 5dc1e7813eee"),
            Some(BuildEvent::RunningIn("5dc1e7813eee".into()))
        );
        assert_eq!(
            parse_build_line("Successfully tagged webtest:simples"),
            None
        );
        assert_eq!(
            parse_build_line("   Compiling tokio v1.0.0"),
            Some(BuildEvent::Output("   Compiling tokio v1.0.0".into()))
        );
    }
}
