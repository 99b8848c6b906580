//! The analysis against dive 0.13.1 on large images, cold and with the lower layers cached:
//! `cargo run -p image-analysis --release --example bench -- [BASE_IMAGE]`.
//!
//! It builds `image-analysis-test/bench-1:<pid>` and `…/bench-2:<pid>`: the base (by default
//! `webtest-base/rust:1.95.0`, 850 MB), a build step whose 60 MB of intermediate files a later
//! step deletes (as a naive Dockerfile does), and one small layer that differs between the two (as
//! a source edit makes). It saves them, one archive each and one archive of both, and times:
//!
//! * dive on each archive (`--source docker-archive`), and on the engine (`--source docker`, which
//!   exports the image itself, as the analysis in `cargo xtask` does);
//! * our analysis of the first archive from a file and as a stream with an empty cache (cold), of
//!   the second with the first's layers cached (warm: only the new top layer is read), and of the
//!   archive of both images, cold;
//! * `docker save` itself, the floor of any analysis of an image in the engine.
//!
//! It prints both tools' figures and fails if they differ, removes the images it made, and prints
//! the load average beside every time, since the machine may be shared.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use image_analysis::{Analysis, Analyzer, Options};
use xshell::{cmd, Shell};

/// Images this run made; removed when dropped, the newest first.
struct Made<'a> {
    sh: &'a Shell,
    names: Vec<String>,
}

impl Drop for Made<'_> {
    fn drop(&mut self) {
        let sh = self.sh;
        for name in self.names.iter().rev() {
            let _ = cmd!(sh, "docker rmi -f {name}")
                .quiet()
                .ignore_stdout()
                .run();
        }
    }
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn timed<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<(T, f64)> {
    let before = load();
    let start = Instant::now();
    let value = f().with_context(|| what.to_string())?;
    let seconds = start.elapsed().as_secs_f64();
    println!("{what:<52} {seconds:>7.2} s   (load {before} → {})", load());
    Ok((value, seconds))
}

/// dive's efficiency and wasted bytes, from an archive or (`source` "docker") the engine.
fn dive(sh: &Shell, source: &str, target: &str, out: &Path) -> Result<(f64, u64)> {
    cmd!(sh, "dive --source {source} {target} --json {out}")
        .env("CI", "false")
        .quiet()
        .ignore_stdout()
        .run()?;
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(out)?)?;
    Ok((
        value["image"]["efficiencyScore"]
            .as_f64()
            .context("efficiencyScore")?,
        value["image"]["inefficientBytes"]
            .as_u64()
            .context("inefficientBytes")?,
    ))
}

fn analyzer(cache: &Path) -> Result<Analyzer> {
    Analyzer::new(Options {
        cache_dir: Some(cache.to_path_buf()),
        ..Options::default()
    })
}

fn stream(analyzer: &Analyzer, archive: &Path) -> Result<Analysis> {
    let file = std::fs::File::open(archive)?;
    analyzer.analyze_stream(std::io::BufReader::with_capacity(1 << 20, file))
}

fn main() -> Result<()> {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "webtest-base/rust:1.95.0".into());
    let sh = Shell::new()?;
    sh.set_var("DOCKER_BUILDKIT", "0");
    let work = tempfile::tempdir()?;
    let mut made = Made {
        sh: &sh,
        names: Vec::new(),
    };
    let mut archives: Vec<PathBuf> = Vec::new();
    let mut export_seconds = 0.0;
    for edit in 1..=2 {
        let name = format!("image-analysis-test/bench-{edit}:{}", std::process::id());
        let context = work.path().join(format!("context-{edit}"));
        std::fs::create_dir_all(&context)?;
        std::fs::write(
            context.join("Dockerfile"),
            format!(
                "FROM {base}\n\
                 RUN mkdir -p /tmp/build && head -c 40000000 /dev/urandom > /tmp/build/objects && \
                     head -c 20000000 /dev/zero > /tmp/build/zeros\n\
                 RUN rm -rf /tmp/build\n\
                 RUN echo {edit} > /edit\n"
            ),
        )?;
        cmd!(sh, "docker build --quiet -t {name} {context}")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .with_context(|| format!("build {name} from {base}"))?;
        made.names.push(name.clone());
        let archive = work.path().join(format!("bench-{edit}.tar"));
        let (_, seconds) = timed(&format!("docker save bench-{edit}"), || {
            Ok(cmd!(sh, "docker save -o {archive} {name}").quiet().run()?)
        })?;
        export_seconds = seconds;
        archives.push(archive);
    }
    let both = work.path().join("bench-both.tar");
    let (first, second) = (&made.names[0], &made.names[1]);
    timed("docker save bench-1 bench-2 (one archive)", || {
        Ok(cmd!(sh, "docker save -o {both} {first} {second}")
            .quiet()
            .run()?)
    })?;
    let size = std::fs::metadata(&archives[0])?.len();
    println!(
        "archives: {:.0} MB each, base {base}, {} cores",
        size as f64 / 1e6,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!();

    let archive = |i: usize| archives[i].to_string_lossy().into_owned();
    let out = |name: &str| work.path().join(name);
    let ((dive_efficiency, dive_wasted), dive_seconds) = timed("dive, archive bench-1", || {
        dive(&sh, "docker-archive", &archive(0), &out("d1.json"))
    })?;
    let (_, dive_edit_seconds) = timed("dive, archive bench-2", || {
        dive(&sh, "docker-archive", &archive(1), &out("d2.json"))
    })?;
    let (_, dive_engine_seconds) = timed("dive, engine bench-2 (dive exports it)", || {
        dive(&sh, "docker", second, &out("d3.json"))
    })?;
    println!();

    let warm = analyzer(&work.path().join("cache-file"))?;
    let (cold_file, cold_file_seconds) = timed("ours, file bench-1, cold", || {
        warm.analyze_file(&archives[0])
    })?;
    let (warm_file, warm_file_seconds) = timed("ours, file bench-2, lower layers cached", || {
        warm.analyze_file(&archives[1])
    })?;
    let warm = analyzer(&work.path().join("cache-stream"))?;
    let (cold_stream, cold_stream_seconds) =
        timed("ours, stream bench-1, cold", || stream(&warm, &archives[0]))?;
    let (warm_stream, warm_stream_seconds) =
        timed("ours, stream bench-2, lower layers cached", || {
            stream(&warm, &archives[1])
        })?;
    let cold = analyzer(&work.path().join("cache-both"))?;
    let (all, both_seconds) = timed("ours, file of both images, cold", || {
        cold.analyze_file_all(&both)
    })?;
    println!();

    println!("dive:  efficiency {dive_efficiency} wasted {dive_wasted}");
    for (what, a) in [
        ("cold file", &cold_file),
        ("cold stream", &cold_stream),
        ("warm file", &warm_file),
        ("warm stream", &warm_stream),
        ("both, first", &all[0]),
        ("both, second", &all[1]),
    ] {
        let read: Vec<&str> = a
            .layers
            .iter()
            .map(|l| if l.cached { "cached" } else { "read" })
            .collect();
        println!(
            "ours ({what}): efficiency {} wasted {} reclaimable {} hidden {} files {} \
             compressed {:?} layers {read:?}",
            a.efficiency,
            a.wasted_bytes,
            a.reclaimable_bytes,
            a.hidden_bytes,
            a.file_count,
            a.compressed_bytes
        );
    }
    for a in [&cold_file, &cold_stream, &warm_file, &warm_stream] {
        if (a.efficiency - dive_efficiency).abs() > 1e-4 || a.wasted_bytes != dive_wasted {
            bail!("our figures differ from dive's");
        }
    }
    println!();
    println!(
        "archive, cold: file {:.2}x dive's time, stream {:.2}x; lower layers cached: file {:.3}x, \
         stream {:.2}x",
        cold_file_seconds / dive_seconds,
        cold_stream_seconds / dive_seconds,
        warm_file_seconds / dive_edit_seconds,
        warm_stream_seconds / dive_edit_seconds
    );
    println!(
        "engine: dive {dive_engine_seconds:.2} s; an export alone {export_seconds:.2} s, which our \
         stream analysis overlaps (cold {cold_stream_seconds:.2} s, warm \
         {warm_stream_seconds:.2} s from a file); two images in one archive, cold: \
         {both_seconds:.2} s"
    );
    Ok(())
}
