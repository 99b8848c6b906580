//! The per-layer cache against the engine: after a source edit, only the layers the edit made
//! are read, from an archive file and from the export stream alike, and the figures are those of
//! an analysis without a cache.

use image_analysis::Analysis;

use crate::support;

fn cached(a: &Analysis) -> Vec<bool> {
    a.layers.iter().map(|l| l.cached).collect()
}

fn without_cached(a: &Analysis) -> Analysis {
    let mut a = a.clone();
    for layer in &mut a.layers {
        layer.cached = false;
    }
    a
}

#[test]
fn after_an_edit_only_the_new_layers_are_read() {
    support::require_engine();
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let base = support::shell_base("cache");
    let dockerfile = |edit: u32| {
        format!(
            "FROM {}\n\
             RUN head -c 2000000 /dev/urandom > /big && mkdir /app\n\
             COPY app /app/app\n\
             RUN echo {edit} > /app/version\n",
            base.name
        )
    };
    let app = |edit: u32| vec![("app", format!("source {edit}\n").into_bytes())];
    let first = support::build("cache-edit-1", &dockerfile(1), &app(1));
    let second = support::build("cache-edit-2", &dockerfile(2), &app(1));
    let third = support::build("cache-edit-3", &dockerfile(3), &app(3));
    let warm = support::analyzer(Some(cache.path()));
    let cold = support::analyzer(None);

    let a = warm
        .analyze_file(&support::save(&first.name, dir.path()))
        .unwrap();
    assert_eq!(cached(&a), [false, false, false, false]);

    // The version step changed: the base, the big file and the copy come from the cache.
    let second_path = support::save(&second.name, dir.path());
    let b = warm.analyze_file(&second_path).unwrap();
    assert_eq!(cached(&b), [true, true, true, false]);
    assert_eq!(without_cached(&b), cold.analyze_file(&second_path).unwrap());

    // The export stream of the same image: every layer is known by its member's name.
    let stream = support::save_stream(&[&second.name]);
    let c = warm.analyze_stream(stream.as_slice()).unwrap();
    assert_eq!(cached(&c), [true, true, true, true]);
    assert_eq!(without_cached(&c), without_cached(&b));

    // A source edit: the copy and everything after it are new.
    let stream = support::save_stream(&[&third.name]);
    let d = warm.analyze_stream(stream.as_slice()).unwrap();
    assert_eq!(cached(&d), [true, true, false, false]);
    assert_eq!(
        without_cached(&d),
        cold.analyze_stream(stream.as_slice()).unwrap()
    );

    // One export of two images carries their shared layers once; each image's figures are those
    // of its own export.
    let stream = support::save_stream(&[&first.name, &third.name]);
    let both = cold.analyze_stream_all(stream.as_slice()).unwrap();
    assert_eq!(both.len(), 2);
    // The engine lists the images in an order of its own: find each by its tag.
    let tagged = |name: &str| {
        both.iter()
            .find(|a| a.tags == [name.to_string()])
            .unwrap_or_else(|| panic!("{name} is not in the export"))
    };
    assert_eq!(*tagged(&third.name), without_cached(&d));
    assert_eq!(*tagged(&first.name), without_cached(&a));
}
