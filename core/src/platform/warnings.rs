//! Cautions shown with a resolved code before the user pays: a stable code the app can act on
//! (e.g. ask for confirmation) and a sentence in the user's language, zh-CN or en, as the
//! platform speaks them.

use serde::Serialize;

use crate::money::Money;

/// The language of user-facing text: the platform serves zh-CN and en.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Simplified Chinese, the default.
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The language for a BCP 47 locale or `Accept-Language` list: English when the first
    /// preference is English, Chinese otherwise (the platform's default).
    pub fn of(locale: &str) -> Lang {
        if locale
            .trim_start()
            .get(..2)
            .is_some_and(|p| p.eq_ignore_ascii_case("en"))
        {
            Lang::En
        } else {
            Lang::Zh
        }
    }
}

/// Why the user is cautioned about a payee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PayeeWarningCode {
    /// The platform does not know the payee, so its name could not be verified.
    Unregistered,
    /// The name printed in the code is not the registered payee's (a swapped sticker?).
    NameMismatch,
    /// A reusable (static) code asks for more than the bank's configured limit.
    StaticAmountAboveLimit,
}

/// A caution to show with a resolved code; `message` is in the configured language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
            ("fr", Lang::Zh),
            ("é", Lang::Zh),
        ] {
            assert_eq!(Lang::of(locale), lang, "{locale:?}");
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
