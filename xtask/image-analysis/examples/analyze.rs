//! Prints the figures of `docker save` archives: `cargo run -p image-analysis --example analyze
//! -- [--stream] [--cache DIR] [--no-compressed-size] ARCHIVE...` (`--stream` reads each archive
//! as a stream, as an export from the engine arrives; `--no-compressed-size` does not deflate
//! plain layers, whose compressed size is then null).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use image_analysis::{Analyzer, Options};

fn main() -> Result<()> {
    let mut stream = false;
    let mut options = Options::default();
    let mut archives = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--stream" => stream = true,
            "--no-compressed-size" => options.compressed_size = false,
            "--cache" => {
                options.cache_dir = Some(args.next().context("--cache takes a directory")?.into())
            }
            _ => archives.push(PathBuf::from(arg)),
        }
    }
    let analyzer = Analyzer::new(options)?;
    for archive in archives {
        let start = Instant::now();
        let analysis = if stream {
            let file = std::fs::File::open(&archive)
                .with_context(|| format!("open {}", archive.display()))?;
            analyzer.analyze_stream(std::io::BufReader::new(file))?
        } else {
            analyzer.analyze_file(&archive)?
        };
        let seconds = start.elapsed().as_secs_f64();
        let mut summary = serde_json::to_value(&analysis)?;
        summary.as_object_mut().context("an object")?.remove("fs");
        summary["seconds"] = seconds.into();
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(())
}
