//! The region map's text form: good input, and bad input naming the bad token.

use contig_cma::{Error, MapProblem, Name, NameProblem, RegionMap};

fn regions(map: &RegionMap, device: &str) -> Option<Vec<String>> {
    map.regions_for(device)
        .map(|list| list.iter().map(|n| n.as_str().to_owned()).collect())
}

fn syntax(text: &str) -> (String, usize, MapProblem) {
    match text.parse::<RegionMap>() {
        Err(Error::MapSyntax {
            token,
            position,
            problem,
        }) => (token.as_str().to_owned(), position, problem),
        other => panic!("{text:?} parsed as {other:?}"),
    }
}

#[test]
fn parses_entries_in_order_with_fallback() {
    let map: RegionMap = " camera = video , common ;dsp=dsp-ram;; *=common; "
        .parse()
        .unwrap();
    assert_eq!(regions(&map, "camera").unwrap(), ["video", "common"]);
    assert_eq!(regions(&map, "dsp").unwrap(), ["dsp-ram"]);
    assert_eq!(regions(&map, "anything").unwrap(), ["common"]);
    assert_eq!(map.to_string(), "camera=video,common;dsp=dsp-ram;*=common");
    let again: RegionMap = map.to_string().parse().unwrap();
    assert_eq!(again, map);
}

#[test]
fn empty_text_is_an_empty_map() {
    for text in ["", "  ", ";;", " ; "] {
        let map: RegionMap = text.parse().unwrap();
        assert_eq!(map, RegionMap::new());
        assert!(map.regions_for("x").is_none());
    }
}

#[test]
fn bad_tokens_are_named_with_their_position() {
    assert_eq!(
        syntax("camera"),
        ("camera".into(), 0, MapProblem::MissingEquals)
    );
    assert_eq!(
        syntax("a=b; gpu video"),
        ("gpu video".into(), 5, MapProblem::MissingEquals)
    );
    assert_eq!(
        syntax("=video"),
        (String::new(), 0, MapProblem::BadName(NameProblem::Empty))
    );
    assert_eq!(
        syntax("cam=video,,common"),
        (String::new(), 10, MapProblem::BadName(NameProblem::Empty))
    );
    assert_eq!(
        syntax("cam="),
        (String::new(), 4, MapProblem::BadName(NameProblem::Empty))
    );
    assert_eq!(
        syntax("cam=a=b"),
        (
            "a=b".into(),
            4,
            MapProblem::BadName(NameProblem::ReservedChar { ch: '=' })
        )
    );
    assert_eq!(
        syntax("cam=my region"),
        (
            "my region".into(),
            4,
            MapProblem::BadName(NameProblem::ReservedChar { ch: ' ' })
        )
    );
    assert_eq!(
        syntax("c*m=a"),
        (
            "c*m".into(),
            0,
            MapProblem::BadName(NameProblem::ReservedChar { ch: '*' })
        )
    );
    let long = "x".repeat(40);
    let (token, pos, problem) = syntax(&format!("cam={long}"));
    assert_eq!(
        (token.len(), pos, problem),
        (32, 4, MapProblem::BadName(NameProblem::TooLong { len: 40 }))
    );
    assert_eq!(
        syntax("a=b;a=c"),
        ("a".into(), 4, MapProblem::DuplicateDevice)
    );
    assert_eq!(
        syntax("*=b; *=c"),
        ("*".into(), 5, MapProblem::DuplicateDevice)
    );
    assert_eq!(
        syntax("a=b, c ,b"),
        ("b".into(), 8, MapProblem::DuplicateRegion)
    );
}

#[test]
fn builder_matches_parser_and_rejects_bad_input_unchanged() {
    let mut built = RegionMap::new();
    built.route("camera", &["video", "common"]).unwrap();
    built.route("*", &["common"]).unwrap();
    assert_eq!(built, "camera=video,common;*=common".parse().unwrap());

    let before = built.clone();
    assert_eq!(
        built.route("gpu", &[]).map(|_| ()),
        Err(Error::EmptyRegionList)
    );
    assert!(matches!(
        built.route("gpu", &["a b"]),
        Err(Error::BadName { .. })
    ));
    assert!(matches!(
        built.route("camera", &["x"]),
        Err(Error::MapSyntax {
            problem: MapProblem::DuplicateDevice,
            ..
        })
    ));
    assert!(matches!(
        built.route("gpu", &["x", "x"]),
        Err(Error::MapSyntax {
            problem: MapProblem::DuplicateRegion,
            ..
        })
    ));
    assert_eq!(built, before);
    assert_eq!(built.fallback().unwrap(), [Name::new("common").unwrap()]);
}

#[test]
fn error_message_names_the_token() {
    let e = "cam=vid eo".parse::<RegionMap>().unwrap_err();
    assert_eq!(
        e.to_string(),
        "region map: \"vid eo\" at byte 4: the name contains the reserved character ' '"
    );
}
