//! Cautions shown with a resolved code before the user pays: a stable code the app can act on
//! (e.g. ask for confirmation) and a sentence in the user's language, zh-CN or en, as the
//! platform speaks them.

use serde::Serialize;

use super::api::Names;
use crate::money::Money;

/// EMV tag 59 (merchant name) holds at most this many characters, so printers cut long
/// English names there.
const EMV_NAME_MAX: usize = 25;

/// Whether a name printed in a code is the registered payee's, in Chinese or English, case,
/// spaces and punctuation aside, or the English name cut at EMV's 25 characters. A false
/// alarm on a genuine bill teaches people to ignore the warning, so formatting differences
/// must not raise it; any other difference does.
pub fn printed_name_matches(printed: &str, registered: &Names) -> bool {
    fn norm(s: &str) -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    }
    let p = norm(printed);
    if p.is_empty() {
        return false;
    }
    let cut: String = registered.en.chars().take(EMV_NAME_MAX).collect();
    p == norm(&registered.zh) || p == norm(&registered.en) || p == norm(&cut)
}

/// The language of user-facing text: the platform serves zh-CN and en.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Simplified Chinese, the default.
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The language for a BCP 47 locale or `Accept-Language` list, by the API's rule:
    /// English when the first listed language is `en` or `en-*`, Chinese (the platform's
    /// default) for anything else.
    pub fn of(locale: &str) -> Lang {
        let first = locale.split([',', ';']).next().unwrap_or_default().trim();
        let english = first.eq_ignore_ascii_case("en")
            || first
                .get(..3)
                .is_some_and(|p| p.eq_ignore_ascii_case("en-"));
        if english { Lang::En } else { Lang::Zh }
    }
}

/// Why the user is cautioned about a payee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum PayeeWarningCode {
    /// The platform does not know the payee, so its name could not be verified.
    Unregistered,
    /// The name printed in the code is not the registered payee's (a swapped sticker?).
    NameMismatch,
    /// A reusable (static) code asks for more than the bank's configured limit.
    StaticAmountAboveLimit,
    /// The code carries several merchant accounts and one of them is not registered.
    SomeAccountsUnregistered,
    /// The code's merchant accounts are registered to different payees.
    PayeesDiffer,
}

/// A caution to show with a resolved code; `message` is in the configured language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PayeeWarning {
    /// Machine-readable reason.
    pub code: PayeeWarningCode,
    /// A sentence for the user.
    pub message: String,
}

impl PayeeWarning {
    /// The payee is not registered with the platform.
    pub fn unregistered(lang: Lang) -> Self {
        let message = match lang {
            Lang::Zh => "该收款方未在缴费平台登记，无法核实其名称；请确认收款方后再付款".into(),
            Lang::En => "this payee is not registered with the bill-payment platform: its name could not be verified".into(),
        };
        PayeeWarning {
            code: PayeeWarningCode::Unregistered,
            message,
        }
    }

    /// The code's printed name (when it has one) differs from the registered payee's name.
    pub fn name_mismatch(lang: Lang, printed: Option<&str>, registered: &str) -> Self {
        let message = match (lang, printed) {
            (Lang::Zh, Some(p)) => format!(
                "二维码上的名称（{p}）与平台登记的收款方（{registered}）不一致；仅在您确实要付款给{registered}时继续"
            ),
            (Lang::Zh, None) => format!(
                "二维码上的名称与平台登记的收款方（{registered}）不一致；仅在您确实要付款给{registered}时继续"
            ),
            (Lang::En, Some(p)) => format!(
                "the name printed on the code ({p}) is not the registered payee ({registered}); pay only if you expected {registered}"
            ),
            (Lang::En, None) => format!(
                "the name printed on the code is not the registered payee ({registered}); pay only if you expected {registered}"
            ),
        };
        PayeeWarning {
            code: PayeeWarningCode::NameMismatch,
            message,
        }
    }

    /// `unregistered` of the code's `total` merchant accounts are not registered.
    pub fn some_accounts_unregistered(lang: Lang, unregistered: usize, total: usize) -> Self {
        let message = match lang {
            Lang::Zh => format!(
                "二维码中的 {total} 个收款账户有 {unregistered} 个未在缴费平台登记；只有已核实的账户会被用于付款"
            ),
            Lang::En => format!(
                "{unregistered} of the {total} payee accounts in this code are not registered with the platform; only the verified account will be paid"
            ),
        };
        PayeeWarning {
            code: PayeeWarningCode::SomeAccountsUnregistered,
            message,
        }
    }

    /// The code's accounts are registered to different payees (named here).
    pub fn payees_differ(lang: Lang, names: &[String]) -> Self {
        let message = match lang {
            Lang::Zh => format!(
                "二维码中的收款账户属于不同的收款方（{}）；请勿用此码付款",
                names.join("、")
            ),
            Lang::En => format!(
                "the payee accounts in this code belong to different payees ({}); do not pay with it",
                names.join(", ")
            ),
        };
        PayeeWarning {
            code: PayeeWarningCode::PayeesDiffer,
            message,
        }
    }

    /// A static code asks for `amount`, above the configured `limit`.
    pub fn static_amount_above_limit(lang: Lang, amount: &Money, limit: &Money) -> Self {
        let message = match lang {
            Lang::Zh => format!(
                "这是可重复使用的静态码，要求支付 {amount}，超过 {limit}；请先与收款方核对金额"
            ),
            Lang::En => format!(
                "a reusable (static) code asks for {amount}, above {limit}: check the amount with the payee"
            ),
        };
        PayeeWarning {
            code: PayeeWarningCode::StaticAmountAboveLimit,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_follows_the_first_preference() {
        for (locale, lang) in [
            ("en", Lang::En),
            ("en-GB,zh;q=0.5", Lang::En),
            (" EN-us", Lang::En),
            ("zh-CN", Lang::Zh),
            ("zh-CN,en;q=0.8", Lang::Zh),
            ("", Lang::Zh),
            ("e", Lang::Zh),
            ("eng", Lang::Zh),
            ("en;q=0.9", Lang::En),
            ("fr", Lang::Zh),
            ("fr-CH, en;q=0.9", Lang::Zh),
            ("é", Lang::Zh),
        ] {
            assert_eq!(Lang::of(locale), lang, "{locale:?}");
        }
    }

    #[test]
    fn printed_names_match_despite_formatting_but_not_otherwise() {
        let water = Names {
            zh: "北京市自来水集团".into(),
            en: "Beijing Waterworks Group Company Limited".into(),
        };
        for genuine in [
            "北京市自来水集团",
            " 北京市 自来水集团 ",
            "BEIJING WATERWORKS GROUP COMPANY LIMITED",
            "Beijing Waterworks Group Company, Limited.",
            "BEIJING WATERWORKS GROUP ", // EMV's 25-character cut
            "BEIJING WATERWORKS GROUP",  // the same, trailing space trimmed
        ] {
            assert!(printed_name_matches(genuine, &water), "{genuine:?}");
        }
        for other in [
            "快捷代缴服务中心",
            "北京市自来水",
            "BEIJING WATERWORKS", // shorter than the cut: not a printer's truncation
            "BEIJING WATERWORKS GROUP COMPANY", // longer than the cut, not the whole name
            "",
            " ··· ",
        ] {
            assert!(!printed_name_matches(other, &water), "{other:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn registered_names_match_in_any_case_and_arbitrary_text_never_panics(
            zh in "\\PC{0,30}",
            en in "[A-Za-z .,&()-]{0,60}",
            printed in "\\PC{0,40}",
        ) {
            let names = Names { zh: zh.clone(), en: en.clone() };
            let _ = printed_name_matches(&printed, &names);
            if zh.chars().any(char::is_alphanumeric) {
                proptest::prop_assert!(printed_name_matches(&zh, &names));
            }
            if en.chars().any(char::is_alphanumeric) {
                proptest::prop_assert!(printed_name_matches(&en.to_uppercase(), &names));
                let cut: String = en.to_uppercase().chars().take(EMV_NAME_MAX).collect();
                proptest::prop_assert!(printed_name_matches(cut.trim(), &names));
            }
        }
    }

    #[test]
    fn messages_carry_the_names_and_amounts_in_both_languages() {
        let w = PayeeWarning::name_mismatch(Lang::Zh, Some("假冒水务"), "北京市自来水集团");
        assert_eq!(w.code, PayeeWarningCode::NameMismatch);
        assert!(w.message.contains("假冒水务") && w.message.contains("北京市自来水集团"));
        let w = PayeeWarning::name_mismatch(Lang::En, None, "Beijing Waterworks Group");
        assert!(
            w.message.contains("(Beijing Waterworks Group)"),
            "{}",
            w.message
        );
        let amount: Money = "999.00 CNY".parse().unwrap();
        let limit: Money = "500.00 CNY".parse().unwrap();
        for lang in [Lang::Zh, Lang::En] {
            let w = PayeeWarning::static_amount_above_limit(lang, &amount, &limit);
            assert!(w.message.contains("999.00 CNY") && w.message.contains("500.00 CNY"));
            assert_eq!(
                PayeeWarning::unregistered(lang).code,
                PayeeWarningCode::Unregistered
            );
        }
        assert!(
            PayeeWarning::unregistered(Lang::Zh)
                .message
                .contains("未在缴费平台登记")
        );
        assert_eq!(
            serde_json::to_value(PayeeWarningCode::StaticAmountAboveLimit).unwrap(),
            "static_amount_above_limit"
        );
    }
}
