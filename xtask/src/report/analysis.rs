//! The figures of one image as `cargo xtask analyze` shows them on the terminal: dive's
//! efficiency and wasted bytes beside what deleting the duplicates or squashing would save, then
//! the layers as the analysis read them, the largest files and dive's inefficient paths.

use std::fmt::Write;

use comfy_table::CellAlignment;
use image_analysis::{Analysis, Compression, Layout};

use super::human::{human_bytes, printable, thousands, truncate};
use super::terminal::{paint, table, BOLD};
use super::Style;
use crate::model::ImageReport;

/// How many of dive's inefficient paths are listed.
const WASTED_PATHS: usize = 10;

pub fn render(image: &ImageReport, analysis: &Analysis, style: Style) -> String {
    let mut out = String::new();
    let layout = match analysis.layout {
        Layout::Classic => "classic layout",
        Layout::Oci => "OCI layout",
    };
    let _ = writeln!(
        out,
        "{} · {} · {layout}",
        paint(style, BOLD, &printable(&image.tag)),
        printable(&image.id),
    );

    let mut figures = table(style);
    figures.set_header(["figure", "value", "what it is"]);
    let rows = [
        (
            "size",
            human_bytes(image.size_bytes),
            "uncompressed, as the engine (or dive, for an archive) counts it",
        ),
        (
            "compressed",
            compressed(analysis.compressed_bytes),
            "what a registry stores: the layers gzipped, config, manifest",
        ),
        (
            "layers",
            image.layer_count.to_string(),
            "layers that hold files",
        ),
        (
            "efficiency",
            format!("{:.4} %", image.efficiency * 100.0),
            "dive: each path's smallest copy over all its copies",
        ),
        (
            "wasted",
            human_bytes(image.wasted_bytes),
            "dive: every copy of each path stored in several layers",
        ),
        (
            "reclaimable",
            human_bytes(image.reclaimable_bytes),
            "deleting the duplicates would save this: all copies but the smallest",
        ),
        (
            "hidden",
            human_bytes(image.hidden_bytes),
            "stored but not visible (overwritten or deleted): squashing saves this",
        ),
        (
            "files",
            thousands(image.file_count),
            "regular files and hard links in the merged filesystem",
        ),
    ];
    for (name, value, meaning) in rows {
        figures.add_row([name.to_string(), value, meaning.to_string()]);
    }
    right_align(&mut figures, &[1]);
    let _ = writeln!(out, "{figures}\n");

    let mut layers = table(style);
    layers.set_header(["#", "size", "compressed", "stored as", "cache", "diff ID"]);
    for (index, layer) in analysis.layers.iter().enumerate() {
        let stored = match layer.compression {
            Compression::None => "tar",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        };
        layers.add_row([
            (index + 1).to_string(),
            human_bytes(layer.size_bytes),
            compressed(layer.compressed_bytes),
            stored.to_string(),
            if layer.cached { "hit" } else { "read" }.to_string(),
            truncate(&layer.diff_id, 19),
        ]);
    }
    right_align(&mut layers, &[0, 1, 2]);
    let _ = writeln!(out, "layers, lowest first\n{layers}\n");

    if !image.largest_files.is_empty() {
        let mut files = table(style);
        files.set_header(["size", "path"]);
        for file in &image.largest_files {
            files.add_row([human_bytes(file.size_bytes), printable(&file.path)]);
        }
        right_align(&mut files, &[0]);
        let _ = writeln!(out, "largest files\n{files}\n");
    }

    if analysis.wasted_paths.is_empty() {
        out.push_str("no path is stored in more than one layer\n");
    } else {
        let mut wasted = table(style);
        wasted.set_header(["copies", "size", "path"]);
        for path in analysis.wasted_paths.iter().take(WASTED_PATHS) {
            wasted.add_row([
                path.copies.to_string(),
                human_bytes(path.size_bytes),
                printable(&path.path),
            ]);
        }
        right_align(&mut wasted, &[0, 1]);
        let _ = writeln!(
            out,
            "paths stored in several layers (dive's inefficient files), most bytes first\n{wasted}"
        );
    }
    out
}

/// A compressed size, or what stands for one the analysis did not compute
/// (`--no-compressed-size`).
fn compressed(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "not computed".to_string(), human_bytes)
}

fn right_align(table: &mut comfy_table::Table, columns: &[usize]) {
    for &index in columns {
        if let Some(column) = table.column_mut(index) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
}
