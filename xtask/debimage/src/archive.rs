//! The image archive: layers and configuration in the `docker save` format.
//!
//! The archive holds `manifest.json` (one image: its config file, repository tags and
//! layer paths), the image configuration as `<sha256>.json`, and each layer as
//! `<diff_id hex>/layer.tar`. That is what `docker load` (and the engine's
//! `POST /images/load`) imports; the image id is the SHA256 of the configuration bytes,
//! which are deterministic, so the same layers and spec always give the same id.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::layer::LayerFile;
use crate::FIXED_MTIME;

/// The image configuration written by [`write_image_archive`]. The architecture is
/// `amd64` and the OS `linux`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageSpec {
    /// `KEY=value` entries.
    pub env: Vec<String>,
    /// The default command.
    pub cmd: Vec<String>,
    /// `user[:group]`, numeric or by name.
    pub user: Option<String>,
    /// The working directory.
    pub workdir: Option<String>,
    /// Image labels.
    pub labels: BTreeMap<String, String>,
    /// `created_by` of each layer's history entry, one per layer (or empty for defaults).
    pub history: Vec<String>,
}

/// The `created` time of the image and of each history entry: [`FIXED_MTIME`] in RFC 3339.
const CREATED: &str = "1970-01-01T00:00:00Z";

/// Builds the image configuration JSON (compact, keys in a fixed order).
fn config_json(layers: &[LayerFile], spec: &ImageSpec) -> Result<Vec<u8>> {
    if !spec.history.is_empty() && spec.history.len() != layers.len() {
        bail!(
            "{} history entries for {} layers",
            spec.history.len(),
            layers.len()
        );
    }
    let mut config = Map::new();
    if !spec.env.is_empty() {
        config.insert("Env".into(), json!(spec.env));
    }
    if !spec.cmd.is_empty() {
        config.insert("Cmd".into(), json!(spec.cmd));
    }
    if let Some(user) = &spec.user {
        config.insert("User".into(), json!(user));
    }
    if let Some(dir) = &spec.workdir {
        config.insert("WorkingDir".into(), json!(dir));
    }
    if !spec.labels.is_empty() {
        config.insert("Labels".into(), json!(spec.labels));
    }
    let history: Vec<Value> = layers
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let created_by = spec
                .history
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("layer {}", i + 1));
            json!({ "created": CREATED, "created_by": created_by })
        })
        .collect();
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.diff_id.as_str()).collect();
    let value = json!({
        "architecture": "amd64",
        "config": config,
        "created": CREATED,
        "history": history,
        "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    });
    serde_json::to_vec(&value).context("serialising the image config")
}

/// Appends an in-memory file to the archive.
fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, path: &str, data: &[u8]) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_mtime(FIXED_MTIME);
    header.set_size(data.len() as u64);
    tar.append_data(&mut header, path, data)
        .with_context(|| format!("writing {path} to the image archive"))
}

/// Writes a `docker save`-format archive of one image, tagged `tag`, made of `layers`
/// (bottom first) and `config`, to `out`, and returns the image id (`sha256:<hex>`).
/// Layer tars are streamed into the archive; it is written through a temporary file.
pub fn write_image_archive(
    out: &Path,
    tag: &str,
    layers: &[LayerFile],
    config: &ImageSpec,
) -> Result<String> {
    if layers.is_empty() {
        bail!("an image needs at least one layer");
    }
    let config_bytes = config_json(layers, config)?;
    let config_hex = hex::encode(Sha256::digest(&config_bytes));
    let mut layer_paths = Vec::new();
    for layer in layers {
        let hex = layer
            .diff_id
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64)
            .with_context(|| format!("malformed diff_id `{}`", layer.diff_id))?;
        layer_paths.push(format!("{hex}/layer.tar"));
    }
    let manifest = json!([{
        "Config": format!("{config_hex}.json"),
        "RepoTags": [tag],
        "Layers": layer_paths,
    }]);
    let manifest = serde_json::to_vec(&manifest).context("serialising the manifest")?;

    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".partial-{}", std::process::id()));
    let partial = out.with_file_name(name);
    let result = (|| -> Result<()> {
        let file =
            File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
        let mut tar = tar::Builder::new(BufWriter::with_capacity(1 << 20, file));
        let mut written = std::collections::BTreeSet::new();
        for (layer, path) in layers.iter().zip(&layer_paths) {
            // The same layer twice (e.g. an empty one) is stored once.
            if !written.insert(path.clone()) {
                continue;
            }
            let dir = path.trim_end_matches("/layer.tar");
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_mtime(FIXED_MTIME);
            header.set_size(0);
            tar.append_data(&mut header, format!("{dir}/"), std::io::empty())
                .context("writing a layer directory")?;
            let file = File::open(&layer.path)
                .with_context(|| format!("opening layer {}", layer.path.display()))?;
            let len = file.metadata().context("reading layer metadata")?.len();
            if len != layer.size {
                bail!(
                    "layer {} is {len} bytes, {} expected",
                    layer.path.display(),
                    layer.size
                );
            }
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o644);
            header.set_mtime(FIXED_MTIME);
            header.set_size(len);
            tar.append_data(&mut header, path, file.take(len))
                .with_context(|| {
                    format!("writing {} to the image archive", layer.path.display())
                })?;
        }
        append_bytes(&mut tar, &format!("{config_hex}.json"), &config_bytes)?;
        append_bytes(&mut tar, "manifest.json", &manifest)?;
        let writer = tar.into_inner().context("finishing the image archive")?;
        let file = writer
            .into_inner()
            .map_err(|e| e.into_error())
            .context("flushing the image archive")?;
        file.sync_all().context("syncing the image archive")?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, out).with_context(|| format!("renaming into {}", out.display()))?;
    Ok(format!("sha256:{config_hex}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deb::tests::tempdir;
    use crate::write_dir_layer;

    fn spec() -> ImageSpec {
        ImageSpec {
            env: vec!["PATH=/usr/bin".into()],
            cmd: vec!["/hello".into()],
            user: Some("65532".into()),
            workdir: None,
            labels: BTreeMap::from([("io.webtest.xtask".to_string(), "1".to_string())]),
            history: vec!["hello".into()],
        }
    }

    #[test]
    fn archive_layout_and_stable_id() {
        let dir = tempdir("archive");
        std::fs::create_dir_all(dir.join("src/bin")).unwrap();
        std::fs::write(dir.join("src/bin/x"), b"x").unwrap();
        let layer = write_dir_layer(&dir.join("src"), &["bin"], "", &dir.join("l.tar")).unwrap();
        let a = write_image_archive(
            &dir.join("a.tar"),
            "t:1",
            std::slice::from_ref(&layer),
            &spec(),
        )
        .unwrap();
        let b = write_image_archive(
            &dir.join("b.tar"),
            "t:1",
            std::slice::from_ref(&layer),
            &spec(),
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(
            std::fs::read(dir.join("a.tar")).unwrap(),
            std::fs::read(dir.join("b.tar")).unwrap()
        );
        let mut archive = tar::Archive::new(File::open(dir.join("a.tar")).unwrap());
        let mut files = BTreeMap::new();
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            files.insert(path, data);
        }
        let hex = &a["sha256:".len()..];
        let config: Value = serde_json::from_slice(&files[&format!("{hex}.json")]).unwrap();
        assert_eq!(
            hex::encode(Sha256::digest(&files[&format!("{hex}.json")])),
            hex
        );
        assert_eq!(config["rootfs"]["diff_ids"][0], json!(layer.diff_id));
        assert_eq!(config["config"]["User"], json!("65532"));
        assert_eq!(config["history"][0]["created_by"], json!("hello"));
        assert_eq!(config["created"], json!(CREATED));
        let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
        assert_eq!(manifest[0]["RepoTags"][0], json!("t:1"));
        let layer_path = manifest[0]["Layers"][0].as_str().unwrap();
        assert_eq!(files[layer_path], std::fs::read(&layer.path).unwrap());
        let mut bad = spec();
        bad.history.push("extra".into());
        assert!(write_image_archive(&dir.join("c.tar"), "t:1", &[layer], &bad).is_err());
    }
}
