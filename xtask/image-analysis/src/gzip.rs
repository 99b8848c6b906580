//! The gzip size of a plain layer, computed on every core: what a registry would store for it.
//!
//! Docker compresses a plain layer on push with Go's `gzip.NewWriter`, that is at the default
//! level, 6 (moby's `distribution/push_v2.go`, `compress`). One deflate stream is sequential, so
//! the bytes are cut into blocks and each block is deflated on its own, primed with the 32 KiB
//! before it as a dictionary and ended with a sync flush, as pigz does: the sum of the blocks'
//! sizes is, within a few bytes per block, the size of the single stream, and the blocks run in
//! parallel. Only sizes are kept; the compressed bytes are thrown away.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use flate2::{Compress, FlushCompress, Status};

/// Docker's push level (`gzip.DefaultCompression` in Go is level 6).
pub(crate) const LEVEL: u32 = 6;
/// The bytes deflated per task.
const BLOCK: usize = 1 << 20;
/// Deflate's window: what a block needs of the bytes before it to compress as in one stream.
const WINDOW: usize = 32 << 10;
/// The gzip header (10 bytes, no name) and trailer (CRC-32 and length).
const GZIP_FRAMING: u64 = 18;

/// Bounds the blocks waiting for a core, shared by every layer of one analysis: past it the
/// reader deflates the block itself, which holds memory to a few blocks per core.
#[derive(Clone)]
pub(crate) struct Budget {
    in_flight: Arc<AtomicUsize>,
    limit: usize,
}

impl Budget {
    pub(crate) fn new(threads: usize) -> Self {
        Budget {
            in_flight: Arc::new(AtomicUsize::new(0)),
            limit: threads.max(1) * 2,
        }
    }
}

/// The gzip size of everything read through a [`GzipTap`], complete once the rayon scope that
/// the tap spawned into has ended.
#[derive(Clone, Default)]
pub(crate) struct GzipSize(Arc<AtomicU64>);

impl GzipSize {
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    fn add(&self, bytes: u64) {
        self.0.fetch_add(bytes, Ordering::AcqRel);
    }
}

/// A reader that passes its bytes on and deflates them, block by block, on the rayon scope.
pub(crate) struct GzipTap<'a, 's, R> {
    inner: R,
    scope: &'a rayon::Scope<'s>,
    budget: Budget,
    size: GzipSize,
    block: Vec<u8>,
    dictionary: Vec<u8>,
}

impl<'a, 's, R: Read> GzipTap<'a, 's, R> {
    pub(crate) fn new(inner: R, scope: &'a rayon::Scope<'s>, budget: Budget) -> Self {
        let size = GzipSize::default();
        size.add(GZIP_FRAMING);
        GzipTap {
            inner,
            scope,
            budget,
            size,
            block: Vec::with_capacity(BLOCK),
            dictionary: Vec::new(),
        }
    }

    /// Ends the stream (the last block is deflated with the final flag) and returns where its
    /// size will be.
    pub(crate) fn finish(mut self) -> GzipSize {
        self.dispatch(true);
        self.size
    }

    fn dispatch(&mut self, last: bool) {
        let block = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK));
        let start = block.len().saturating_sub(WINDOW);
        let next_dictionary = if block.len() >= WINDOW {
            block[start..].to_vec()
        } else {
            // A short block (only the last one can be) extends the old window.
            let mut window = std::mem::take(&mut self.dictionary);
            window.extend_from_slice(&block);
            let excess = window.len().saturating_sub(WINDOW);
            window.drain(..excess);
            window
        };
        let dictionary = std::mem::replace(&mut self.dictionary, next_dictionary);
        let size = self.size.clone();
        let in_flight = &self.budget.in_flight;
        if in_flight.load(Ordering::Acquire) >= self.budget.limit {
            size.add(deflated_len(&dictionary, &block, last));
            return;
        }
        in_flight.fetch_add(1, Ordering::AcqRel);
        let in_flight = in_flight.clone();
        self.scope.spawn(move |_| {
            size.add(deflated_len(&dictionary, &block, last));
            in_flight.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

impl<R: Read> Read for GzipTap<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let take = rest.len().min(BLOCK - self.block.len());
            self.block.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.block.len() == BLOCK {
                self.dispatch(false);
            }
        }
        Ok(n)
    }
}

/// The raw deflate size of `data` at Docker's level, primed with `dictionary`; a block that is
/// not the last ends with a sync flush so that the next one starts on a byte boundary.
pub(crate) fn deflated_len(dictionary: &[u8], data: &[u8], last: bool) -> u64 {
    let mut deflate = Compress::new(flate2::Compression::new(LEVEL), false);
    if !dictionary.is_empty() {
        deflate
            .set_dictionary(dictionary)
            .expect("a fresh deflate stream takes a dictionary");
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = vec![0u8; 64 << 10];
    let mut input = data;
    loop {
        let before_in = deflate.total_in();
        let before_out = deflate.total_out();
        let status = deflate
            .compress(input, &mut out, flush)
            .expect("deflating a buffer in memory cannot fail");
        input = &input[(deflate.total_in() - before_in) as usize..];
        let produced = (deflate.total_out() - before_out) as usize;
        // zlib's rule: with a flush, call again until it leaves room in the output buffer.
        let done = match status {
            Status::StreamEnd => true,
            _ => !last && input.is_empty() && produced < out.len(),
        };
        if done {
            return deflate.total_out();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// Data that compresses like a layer does: text, repeats far apart, and noise.
    fn sample(len: usize) -> Vec<u8> {
        let mut data = Vec::with_capacity(len);
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        while data.len() < len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            match state % 4 {
                0 => {
                    data.extend_from_slice(b"usr/lib/x86_64-linux-gnu/libstd-0123456789abcdef.so ")
                }
                1 => data.extend_from_slice(&state.to_le_bytes()),
                _ => data.extend_from_slice(format!("{} ", state % 1000).as_bytes()),
            }
        }
        data.truncate(len);
        data
    }

    fn gzip_len(data: &[u8]) -> u64 {
        let mut encoder =
            flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(LEVEL));
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap().len() as u64
    }

    fn tapped_len(data: &[u8], threads: usize) -> u64 {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let size = pool.in_place_scope(|scope| {
            let mut tap = GzipTap::new(data, scope, Budget::new(threads));
            io::copy(&mut tap, &mut io::sink()).unwrap();
            tap.finish()
        });
        size.get()
    }

    #[test]
    fn blocks_add_up_to_the_size_of_one_gzip_stream() {
        let data = sample(5 * BLOCK + 12345);
        let whole = gzip_len(&data);
        for threads in [1, 2, 4] {
            let tapped = tapped_len(&data, threads);
            let off = (tapped as f64 / whole as f64 - 1.0).abs();
            assert!(off < 0.002, "{tapped} vs {whole} with {threads} threads");
        }
    }

    #[test]
    fn the_size_does_not_depend_on_the_threads() {
        let data = sample(3 * BLOCK + 7);
        assert_eq!(tapped_len(&data, 1), tapped_len(&data, 3));
    }

    #[test]
    fn short_and_empty_inputs_are_exact() {
        for len in [0, 1, 1000, BLOCK - 1, BLOCK] {
            let data = sample(len);
            let whole = gzip_len(&data);
            let tapped = tapped_len(&data, 2);
            // Below one block it is a single deflate stream, as a gzip encoder writes it; a
            // block of exactly one block size gains only an empty final block.
            assert!(tapped.abs_diff(whole) <= 8, "{len}: {tapped} vs {whole}");
        }
    }
}
