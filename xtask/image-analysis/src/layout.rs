//! Which members of a `docker save` archive make the image: the OCI layout (`index.json` → a
//! manifest, or an index of manifests → config and layers, all under `blobs/`), or the classic
//! one (`manifest.json` → config and `<id>/layer.tar` members). Pure functions over the archive's
//! small JSON members, whichever way they were read.

use std::collections::HashMap;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::model::Layout;

/// Docker's media type of a plain layer, given to the layers of the classic layout.
pub(crate) const DOCKER_PLAIN_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// The archive's members as far as resolving the image needs them.
pub(crate) trait Members {
    /// Whether a regular member (or a link to one) of this name exists.
    fn has(&self, name: &str) -> bool;
    /// The bytes of a small member; `None` when there is none of that name.
    fn read(&mut self, name: &str) -> Result<Option<Vec<u8>>>;
}

/// The image an archive holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Image {
    pub layout: Layout,
    /// The names the archive gives the image.
    pub tags: Vec<String>,
    pub config_digest: String,
    pub config_bytes: u64,
    pub manifest_digest: Option<String>,
    pub manifest_bytes: u64,
    pub layers: Vec<LayerRef>,
}

/// Where a layer is and what the metadata says of it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LayerRef {
    /// The archive member that holds it.
    pub member: String,
    pub media_type: String,
    /// The digest the manifest gives the stored blob (the OCI layout only).
    pub blob_digest: Option<String>,
    /// The diff ID the image config lists for it.
    pub diff_id: String,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    platform: Option<Platform>,
    #[serde(default)]
    annotations: HashMap<String, String>,
}

#[derive(Deserialize)]
struct Platform {
    #[serde(default)]
    os: String,
}

/// An OCI image index or manifest, or Docker's manifest list or manifest: the fields that say
/// which one it is are optional, so all are read as one shape.
#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct ClassicItem {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct Config {
    rootfs: RootFs,
}

#[derive(Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// `sha256:abc…` → `blobs/sha256/abc…`.
pub(crate) fn blob_member(digest: &str) -> Result<String> {
    match digest.split_once(':') {
        Some((algorithm, hex))
            if !algorithm.is_empty()
                && !hex.is_empty()
                && algorithm.bytes().all(|b| b.is_ascii_alphanumeric())
                && hex.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Ok(format!("blobs/{algorithm}/{hex}"))
        }
        _ => bail!("`{digest}` is no digest"),
    }
}

/// `blobs/sha256/abc…` → `sha256:abc…`: the digest an OCI blob's name claims.
pub(crate) fn member_digest(member: &str) -> Option<String> {
    let rest = member.strip_prefix("blobs/")?;
    let (algorithm, hex) = rest.split_once('/')?;
    let digest = format!("{algorithm}:{hex}");
    blob_member(&digest).ok().map(|_| digest)
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Finds the images in the archive, in the order it lists them: through `index.json` when there
/// is one, else through Docker's `manifest.json`. `limit` stops after that many.
pub(crate) fn resolve(members: &mut dyn Members, limit: usize) -> Result<Vec<Image>> {
    let images = if let Some(index) = members.read("index.json")? {
        resolve_oci(members, &index, limit)?
    } else if let Some(manifest) = members.read("manifest.json")? {
        resolve_classic(members, &manifest, limit)?
    } else {
        bail!(
            "the image archive has neither index.json nor manifest.json: is it a `docker save` \
             archive?"
        )
    };
    if images.is_empty() {
        bail!("the image archive names no image whose config and layers it holds");
    }
    Ok(images)
}

fn is_index(descriptor: &Descriptor, document: Option<&Document>) -> bool {
    descriptor.media_type.contains("index")
        || descriptor.media_type.contains("manifest.list")
        || document.is_some_and(|d| d.manifests.is_some())
}

/// The first manifest under an index whose blobs the archive holds, skipping attestations
/// (platform `unknown`) and the platforms whose content was left out.
fn pick_manifest(
    members: &mut dyn Members,
    descriptors: &[Descriptor],
    depth: u32,
) -> Result<Option<(Descriptor, Document)>> {
    if depth > 8 {
        bail!("the image indexes nest too deep");
    }
    for descriptor in descriptors {
        if descriptor
            .platform
            .as_ref()
            .is_some_and(|p| p.os == "unknown")
            || descriptor
                .annotations
                .get("vnd.docker.reference.type")
                .is_some_and(|t| t == "attestation-manifest")
        {
            continue;
        }
        let member = blob_member(&descriptor.digest)?;
        let Some(bytes) = members.read(&member)? else {
            continue;
        };
        let document: Document = serde_json::from_slice(&bytes)
            .with_context(|| format!("parse the manifest {member}"))?;
        if is_index(descriptor, Some(&document)) {
            let nested = document.manifests.unwrap_or_default();
            if let Some(found) = pick_manifest(members, &nested, depth + 1)? {
                return Ok(Some(found));
            }
            continue;
        }
        let Some(config) = &document.config else {
            continue;
        };
        let complete = members.has(&blob_member(&config.digest)?)
            && document
                .layers
                .iter()
                .all(|l| blob_member(&l.digest).is_ok_and(|m| members.has(&m)));
        if complete {
            let descriptor = Descriptor {
                media_type: descriptor.media_type.clone(),
                digest: descriptor.digest.clone(),
                size: if descriptor.size > 0 {
                    descriptor.size
                } else {
                    bytes.len() as u64
                },
                platform: None,
                annotations: HashMap::new(),
            };
            return Ok(Some((descriptor, document)));
        }
    }
    Ok(None)
}

/// The names the image is tagged with, from the annotations Docker and containerd write.
fn tags_of(descriptor: &Descriptor) -> Vec<String> {
    [
        "io.containerd.image.name",
        "org.opencontainers.image.ref.name",
    ]
    .iter()
    .find_map(|key| descriptor.annotations.get(*key))
    .map(|name| vec![name.clone()])
    .unwrap_or_default()
}

fn resolve_oci(members: &mut dyn Members, index: &[u8], limit: usize) -> Result<Vec<Image>> {
    let index: Document = serde_json::from_slice(index).context("parse index.json")?;
    let mut images = Vec::new();
    for top in index.manifests.unwrap_or_default() {
        if images.len() >= limit {
            break;
        }
        let tags = tags_of(&top);
        let Some((descriptor, manifest)) = pick_manifest(members, std::slice::from_ref(&top), 0)?
        else {
            continue;
        };
        images.push(oci_image(members, descriptor, manifest, tags)?);
    }
    Ok(images)
}

fn oci_image(
    members: &mut dyn Members,
    descriptor: Descriptor,
    manifest: Document,
    tags: Vec<String>,
) -> Result<Image> {
    let config = manifest
        .config
        .context("the image manifest has no config")?;
    let config_member = blob_member(&config.digest)?;
    let config_bytes = members
        .read(&config_member)?
        .with_context(|| format!("the image archive lacks the config {config_member}"))?;
    let diff_ids = diff_ids(&config_bytes, &config_member)?;
    if diff_ids.len() != manifest.layers.len() {
        bail!(
            "the image config lists {} layers and its manifest {}",
            diff_ids.len(),
            manifest.layers.len()
        );
    }
    let layers = manifest
        .layers
        .iter()
        .zip(diff_ids)
        .map(|(layer, diff_id)| {
            Ok(LayerRef {
                member: blob_member(&layer.digest)?,
                media_type: layer.media_type.clone(),
                blob_digest: Some(layer.digest.clone()),
                diff_id,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Image {
        layout: Layout::Oci,
        tags,
        config_digest: sha256(&config_bytes),
        config_bytes: config_bytes.len() as u64,
        manifest_digest: Some(descriptor.digest),
        manifest_bytes: descriptor.size,
        layers,
    })
}

fn resolve_classic(members: &mut dyn Members, manifest: &[u8], limit: usize) -> Result<Vec<Image>> {
    let items: Vec<ClassicItem> =
        serde_json::from_slice(manifest).context("parse manifest.json")?;
    items
        .into_iter()
        .take(limit)
        .map(|item| classic_image(members, item))
        .collect()
}

fn classic_image(members: &mut dyn Members, item: ClassicItem) -> Result<Image> {
    let config_bytes = members
        .read(&item.config)?
        .with_context(|| format!("the image archive lacks the config {}", item.config))?;
    let diff_ids = diff_ids(&config_bytes, &item.config)?;
    if diff_ids.len() != item.layers.len() {
        bail!(
            "the image config lists {} layers and manifest.json {}",
            diff_ids.len(),
            item.layers.len()
        );
    }
    let layers = item
        .layers
        .into_iter()
        .zip(diff_ids)
        .map(|(member, diff_id)| LayerRef {
            blob_digest: member_digest(&member),
            member,
            media_type: DOCKER_PLAIN_LAYER.into(),
            diff_id,
        })
        .collect();
    Ok(Image {
        layout: Layout::Classic,
        tags: item.tags.unwrap_or_default(),
        config_digest: sha256(&config_bytes),
        config_bytes: config_bytes.len() as u64,
        manifest_digest: None,
        manifest_bytes: 0,
        layers,
    })
}

fn diff_ids(config: &[u8], member: &str) -> Result<Vec<String>> {
    let config: Config = serde_json::from_slice(config)
        .with_context(|| format!("parse the image config {member}"))?;
    Ok(config.rootfs.diff_ids)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    struct Map(HashMap<String, Vec<u8>>);

    impl Members for Map {
        fn has(&self, name: &str) -> bool {
            self.0.contains_key(name)
        }
        fn read(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
            Ok(self.0.get(name).cloned())
        }
    }

    fn digest_of(bytes: &[u8]) -> String {
        sha256(bytes)
    }

    fn config(diff_ids: &[&str]) -> Vec<u8> {
        json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}})
            .to_string()
            .into_bytes()
    }

    fn manifest(config: &[u8], layers: &[&str]) -> Vec<u8> {
        json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest_of(config), "size": config.len()},
            "layers": layers.iter().map(|d| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": 1})).collect::<Vec<_>>(),
        })
        .to_string()
        .into_bytes()
    }

    const L1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const L2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn blob(map: &mut HashMap<String, Vec<u8>>, bytes: Vec<u8>) -> String {
        let digest = digest_of(&bytes);
        map.insert(blob_member(&digest).unwrap(), bytes);
        digest
    }

    #[test]
    fn the_classic_layout_is_read_through_manifest_json() {
        let config = config(&[L1, L2]);
        let id = digest_of(&config);
        let name = format!("{}.json", &id[7..]);
        let mut map = HashMap::new();
        map.insert(name.clone(), config.clone());
        map.insert(
            "manifest.json".into(),
            json!([{"Config": name, "RepoTags": ["x:y"], "Layers": ["a/layer.tar", "b/layer.tar"]}])
                .to_string()
                .into_bytes(),
        );
        let image = resolve(&mut Map(map), usize::MAX).unwrap().remove(0);
        assert_eq!(image.layout, Layout::Classic);
        assert_eq!(image.config_digest, id);
        assert_eq!(image.layers[1].member, "b/layer.tar");
        assert_eq!(image.layers[1].diff_id, L2);
        assert_eq!(image.layers[1].blob_digest, None);
        assert_eq!(image.tags, ["x:y"]);
    }

    #[test]
    fn every_image_of_an_archive_is_found_in_order_up_to_the_limit() {
        let mut map = HashMap::new();
        let mut tops = Vec::new();
        for (name, diff_ids) in [("a:1", vec![L1]), ("b:2", vec![L1, L2])] {
            let config = config(&diff_ids);
            blob(&mut map, config.clone());
            let digest = blob(&mut map, manifest(&config, &diff_ids));
            tops.push(
                json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                             "digest": digest, "size": 1,
                             "annotations": {"io.containerd.image.name": name}}),
            );
        }
        map.insert(blob_member(L1).unwrap(), b"layer".to_vec());
        map.insert(blob_member(L2).unwrap(), b"layer".to_vec());
        map.insert(
            "index.json".into(),
            json!({"schemaVersion": 2, "manifests": tops})
                .to_string()
                .into_bytes(),
        );
        let mut members = Map(map);
        let images = resolve(&mut members, usize::MAX).unwrap();
        let tags: Vec<_> = images.iter().map(|i| i.tags.clone()).collect();
        assert_eq!(tags, [vec!["a:1".to_string()], vec!["b:2".to_string()]]);
        assert_eq!(images[1].layers.len(), 2);
        assert_eq!(resolve(&mut members, 1).unwrap().len(), 1);
    }

    #[test]
    fn the_oci_layout_follows_a_nested_index_past_attestations() {
        let mut map = HashMap::new();
        let config = config(&[L1]);
        let config_digest = blob(&mut map, config.clone());
        map.insert(blob_member(L1).unwrap(), b"layer".to_vec());
        let image_manifest = manifest(&config, &[L1]);
        let manifest_len = image_manifest.len();
        let manifest_digest = blob(&mut map, image_manifest);
        // An attestation manifest whose blobs are present comes first and must be passed over.
        let attestation = manifest(&config, &[L1]);
        let attestation_digest = blob(&mut map, attestation);
        let nested = json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": attestation_digest, "size": 1,
                 "platform": {"os": "unknown", "architecture": "unknown"}},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:3333333333333333333333333333333333333333333333333333333333333333", "size": 1,
                 "platform": {"os": "linux", "architecture": "arm64"}},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest_len,
                 "platform": {"os": "linux", "architecture": "amd64"}},
            ]
        });
        let nested_digest = blob(&mut map, nested.to_string().into_bytes());
        map.insert(
            "index.json".into(),
            json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": nested_digest, "size": 1}]})
                .to_string()
                .into_bytes(),
        );
        let image = resolve(&mut Map(map), usize::MAX).unwrap().remove(0);
        assert_eq!(image.layout, Layout::Oci);
        assert_eq!(image.config_digest, config_digest);
        assert_eq!(
            image.manifest_digest.as_deref(),
            Some(manifest_digest.as_str())
        );
        assert_eq!(image.manifest_bytes, manifest_len as u64);
        assert_eq!(image.layers.len(), 1);
        assert_eq!(image.layers[0].member, blob_member(L1).unwrap());
        assert_eq!(image.layers[0].blob_digest.as_deref(), Some(L1));
        assert_eq!(image.layers[0].diff_id, L1);
    }

    #[test]
    fn a_manifest_whose_layers_are_missing_is_no_image() {
        let mut map = HashMap::new();
        let config = config(&[L1]);
        blob(&mut map, config.clone());
        let digest = blob(&mut map, manifest(&config, &[L1]));
        map.insert(
            "index.json".into(),
            json!({"schemaVersion": 2, "manifests": [{"digest": digest, "size": 1}]})
                .to_string()
                .into_bytes(),
        );
        let err = resolve(&mut Map(map), usize::MAX).unwrap_err();
        assert!(format!("{err:#}").contains("config and layers"), "{err:#}");
    }

    #[test]
    fn a_config_and_manifest_that_disagree_are_an_error() {
        let mut map = HashMap::new();
        let config = config(&[L1, L2]);
        blob(&mut map, config.clone());
        map.insert(blob_member(L1).unwrap(), b"layer".to_vec());
        let digest = blob(&mut map, manifest(&config, &[L1]));
        map.insert(
            "index.json".into(),
            json!({"manifests": [{"digest": digest}]})
                .to_string()
                .into_bytes(),
        );
        assert!(resolve(&mut Map(map), usize::MAX).is_err());
    }

    #[test]
    fn digests_and_blob_names_map_both_ways() {
        assert_eq!(
            blob_member(L1).unwrap(),
            format!("blobs/sha256/{}", &L1[7..])
        );
        assert_eq!(
            member_digest(&blob_member(L1).unwrap()).as_deref(),
            Some(L1)
        );
        assert!(blob_member("sha256:../../x").is_err());
        assert_eq!(member_digest("abc/layer.tar"), None);
        assert!(resolve(&mut Map(HashMap::new()), 1).is_err());
    }
}
