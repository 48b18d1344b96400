//! The words of "this page does not exist": a maintained table, by
//! language, of what not-found pages say, and where a page is allowed to
//! say it for chancery to believe it.
//!
//! Sites serve their not-found page with 200 under the site's usual title
//! ("Ministry of Foreign Affairs"), with the apology in a heading or a
//! short line of text: "Sorry, the page you requested cannot be found.",
//! "对不起，您要访问的页面已被删除或不存在。". So a page says "not found" when
//! - its title, or one `|`/`-`-separated segment of it, is a not-found
//!   title ("404", "Page not found", "页面不存在"), or contains a phrase;
//! - or one of its first [`FIRST_LINES`] lines is a not-found title, or
//!   short and mostly phrases: at most [`MAX_LINE_CHARS`] characters, of
//!   which phrases cover at least [`MIN_PHRASE_SHARE`]. A statement that
//!   *quotes* such a phrase inside a sentence does not qualify, nor does a
//!   table cell that says "404".
//!
//! Phrases are compared lower-cased, with typographic apostrophes as `'`
//! and full-width punctuation as is (Chinese phrases carry their own).
//! To add a wording: add it to [`PHRASES`] (the shortest unambiguous part)
//! and a row to the test table below.

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

/// Whole title segments (lower-cased) that mean "not found".
pub const TITLES: &[&str] = &[
    "404",
    "not found",
    "page not found",
    "404 not found",
    "404 page not found",
    "error 404",
    "404 error",
    "page cannot be found",
    "the page cannot be found",
    "page does not exist",
    "file or directory not found",
    // French, Spanish, German, Russian.
    "erreur 404",
    "error 404 - página no encontrada",
    "fehler 404",
    "ошибка 404",
    // Chinese, Japanese.
    "页面不存在",
    "您访问的页面不存在",
    "页面未找到",
    "找不到页面",
    "网页不存在",
    "页面没有找到",
    "404错误",
    "404 错误",
    "頁面不存在",
    "找不到網頁",
    "網頁不存在",
    "ページが見つかりません",
];

/// Phrases (lower-cased) that mean "not found" wherever they appear in a
/// title or a short line.
pub const PHRASES: &[&str] = &[
    // English.
    "page not found",
    "page cannot be found",
    "page could not be found",
    "page can't be found",
    "page was not found",
    "page does not exist",
    "page doesn't exist",
    "page no longer exists",
    "page has been removed",
    "page has been deleted",
    "page has moved or been deleted",
    "page you requested",
    "page you are looking for",
    "page you were looking for",
    "page you're looking for",
    "page you have requested",
    "requested page could not",
    "requested page does not",
    "requested page was not",
    "requested url was not found",
    "we can't find the page",
    "we couldn't find the page",
    "we could not find the page",
    "this page isn't available",
    "this page is not available",
    "content you requested",
    // Chinese (simplified).
    "页面不存在",
    "页面未找到",
    "页面没有找到",
    "页面找不到",
    "找不到页面",
    "找不到该页面",
    "找不到您要的页面",
    "网页不存在",
    "页面已被删除",
    "页面已删除",
    "已被删除或不存在",
    "不存在或已被删除",
    "已删除或不存在",
    "您要访问的页面",
    "您访问的页面",
    "您所访问的页面",
    "您请求的页面",
    "您要查看的页面",
    "请求的页面不存在",
    "该页面不存在",
    "此页面不存在",
    "无法找到该页",
    "内容不存在",
    "信息不存在或已删除",
    // Chinese (traditional).
    "頁面不存在",
    "頁面未找到",
    "找不到頁面",
    "找不到網頁",
    "網頁不存在",
    "頁面已被刪除",
    "已被刪除或不存在",
    "不存在或已被刪除",
    "您要訪問的頁面",
    "您訪問的頁面",
    "您所瀏覽的頁面",
    "您要求的網頁",
    "無法找到該頁",
    // French.
    "page introuvable",
    "page non trouvée",
    "page demandée n'existe",
    "page que vous recherchez",
    "page que vous avez demandée",
    "page n'existe pas",
    "page n'existe plus",
    "cette page est introuvable",
    // Spanish.
    "página no encontrada",
    "página no existe",
    "página que busca",
    "página que buscas",
    "página que está buscando",
    "página solicitada no",
    "no se encontró la página",
    "no se ha encontrado la página",
    "no hemos encontrado la página",
    // Russian.
    "страница не найдена",
    "страница не существует",
    "страница удалена",
    "такой страницы нет",
    "запрашиваемая страница",
    "запрошенная страница",
    "страницу не удалось найти",
    // Arabic.
    "الصفحة غير موجودة",
    "الصفحة المطلوبة غير موجودة",
    "لم يتم العثور على الصفحة",
    "الصفحة التي تبحث عنها",
    "الصفحة التي طلبتها",
    // German.
    "seite nicht gefunden",
    "seite wurde nicht gefunden",
    "seite existiert nicht",
    "seite ist nicht verfügbar",
    "angeforderte seite",
    "gesuchte seite",
    "aufgerufene seite",
    // Japanese.
    "ページが見つかりません",
    "ページが見つかりませんでした",
    "ページは見つかりません",
    "ページは存在しません",
    "お探しのページ",
    "指定されたページ",
    "ページは削除された",
    // Korean.
    "페이지를 찾을 수 없습니다",
    "요청하신 페이지",
];

/// A line longer than this is prose, never a not-found message.
pub const MAX_LINE_CHARS: usize = 160;

/// In a line, phrases must cover at least this share of its characters.
pub const MIN_PHRASE_SHARE: f64 = 0.3;

/// How many of a page's first lines are read.
pub const FIRST_LINES: usize = 40;

/// `Some(what the page says)` when `title` or one of the first lines of
/// `text` says the page does not exist.
pub fn says_not_found(title: Option<&str>, text: &str) -> Option<String> {
    if let Some(title) = title
        && (segments(title).any(|s| TITLES.contains(&s.as_str())) || phrase_share(title) > 0.0)
    {
        return Some(format!("the page's title says {:?}", title.trim()));
    }
    text.lines()
        .take(FIRST_LINES)
        .map(str::trim)
        .filter(|line| !line.is_empty() && line.chars().count() <= MAX_LINE_CHARS)
        .find(|line| {
            // A whole line may be a not-found title ("Error 404"), but a
            // bare number never: "404" is a table cell as often as not.
            let folded = fold(line);
            (TITLES.contains(&folded.as_str()) && folded.parse::<u32>().is_err())
                || phrase_share(line) >= MIN_PHRASE_SHARE
        })
        .map(|line| format!("the page says {line:?}"))
}

/// All of [`PHRASES`] in one automaton: a line is searched once, however
/// long the table grows.
static SEARCH: LazyLock<AhoCorasick> =
    LazyLock::new(|| AhoCorasick::new(PHRASES).expect("the phrase table builds"));

/// The share of `text`'s characters that not-found phrases cover (0 when
/// it has none). Phrases may overlap ("您访问的页面" and "页面不存在").
fn phrase_share(text: &str) -> f64 {
    let folded = fold(text);
    let mut covered = vec![false; folded.len()];
    for found in SEARCH.find_overlapping_iter(folded.as_str()) {
        covered[found.start()..found.end()].fill(true);
    }
    let chars = folded.chars().count();
    if chars == 0 {
        return 0.0;
    }
    let covered_chars = folded.char_indices().filter(|(at, _)| covered[*at]).count();
    covered_chars as f64 / chars as f64
}

/// Lower case, typographic apostrophes as `'`.
fn fold(text: &str) -> String {
    text.trim()
        .to_lowercase()
        .replace(['\u{2019}', '\u{2018}', '\u{02bc}'], "'")
}

/// The whole text and each of its `|`, `-`, `:`… separated parts.
pub fn segments(title: &str) -> impl Iterator<Item = String> + '_ {
    let lower = fold(title);
    let mut out = vec![lower.clone()];
    out.extend(
        lower
            .split(['|', '–', '—', '-', ':', '·', '_', '｜', '－'])
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
    );
    out.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (title, text, says "not found")
    const ROWS: &[(Option<&str>, &str, bool)] = &[
        // Titles.
        (
            Some("Page Not Found | Ministry of Foreign Affairs"),
            "",
            true,
        ),
        (Some("404"), "", true),
        (Some("页面不存在"), "", true),
        (Some("Erreur 404 - Ministère"), "", true),
        // A site's usual title, the apology in a heading or a short line,
        // after the site's menu.
        (
            Some("Embassy of the People's Republic of China in the UK"),
            "Home | Ambassador | Consular Services | Taiwan Question | Links\nSorry, the page you requested cannot be found.\nBack to home page",
            true,
        ),
        (
            Some("Embassy"),
            "Home | News\nThe page you are looking for has been removed or is temporarily unavailable.",
            true,
        ),
        (
            Some("中华人民共和国驻英国大使馆"),
            "首页 | 大使馆\n对不起，您要访问的页面已被删除或不存在。",
            true,
        ),
        (
            Some("中华人民共和国外交部"),
            "抱歉！您访问的页面不存在或已被删除",
            true,
        ),
        (Some("外交部"), "很抱歉，您訪問的頁面不存在。", true),
        (
            Some("Ministère"),
            "Accueil\nDésolé, la page que vous recherchez est introuvable.",
            true,
        ),
        (
            Some("Ministerio"),
            "Inicio\nLo sentimos, la página que busca no existe.",
            true,
        ),
        (
            Some("МИД России"),
            "Главная\nИзвините, страница не найдена.",
            true,
        ),
        (
            Some("وزارة الخارجية"),
            "الرئيسية\nعذراً، الصفحة غير موجودة",
            true,
        ),
        (
            Some("Auswärtiges Amt"),
            "Startseite\nDie angeforderte Seite konnte leider nicht gefunden werden.",
            true,
        ),
        (
            Some("外務省"),
            "ホーム\nお探しのページは見つかりませんでした。",
            true,
        ),
        (
            Some("외교부"),
            "홈\n요청하신 페이지를 찾을 수 없습니다.",
            true,
        ),
        (Some("Site"), "Home\nError 404", true),
        (
            Some("Site"),
            "Home\nWe can’t find the page you’re looking for.",
            true,
        ),
        // A table of numbers is not an error page.
        (Some("Statistics"), "Cases\n404 | 12 | 33\n404\n12", false),
        // Statements are not.
        (
            Some("Statement on the situation in the region"),
            "The Ministry notes...\nIt was not found necessary to comment.",
            false,
        ),
        (
            Some("Foreign Ministry Spokesperson's Remarks"),
            "Q: ... A: The page you are reading is the transcript.",
            false,
        ),
        (Some("外交部发言人答记者问"), "问：……\n答：……", false),
        // A statement quoting the phrase inside a long sentence.
        (
            Some("Remarks on the website"),
            "The spokesperson said that a page not found on the ministry's website last week had been restored after a technical fault, and that the statement of 12 March remains valid in every respect and was never withdrawn.",
            false,
        ),
        (
            Some("Remarks"),
            "Asked about the report, the spokesperson said the page you are looking for was moved to the archive.\nIt remains valid.",
            false,
        ),
    ];

    #[test]
    fn every_wording_in_the_table() {
        for (title, text, expected) in ROWS {
            let said = says_not_found(*title, text);
            assert_eq!(said.is_some(), *expected, "{title:?} {text:?}: {said:?}");
        }
    }

    #[test]
    fn phrases_are_stored_folded() {
        for phrase in PHRASES.iter().chain(TITLES) {
            assert_eq!(&fold(phrase), phrase, "store {phrase:?} lower-cased");
        }
    }
}
