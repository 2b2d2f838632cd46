"""Realistic dossiers for the sample procedures."""
from __future__ import annotations

from typing import Any

MAI = {"kind": "person", "full_name": "Nguyễn Thị Mai", "citizen_id": "079203001234", "phone": "0912 345 678",
       "email": "Mai.Nguyen@Example.VN", "address": "12 Trần Phú, phường Nha Trang", "channels": ["sms", "email"]}
BINH = {"kind": "person", "full_name": "Trần Văn Bình", "citizen_id": "056090004321", "phone": "+84 987 654 321"}
VIETTEL = {"kind": "organisation", "full_name": "Công ty TNHH Xây dựng Hải Đăng", "tax_code": "0100109106",
           "email": "phaply@haidang.example.vn", "address": "8 Lê Lợi, phường Nha Trang"}


def birth(uploads: dict[str, str], channel: str = "online", **form: Any) -> dict[str, Any]:
    return {"procedure_code": "1.001193", "channel": channel, "applicant": MAI,
            "form": {"child_full_name": "Trần Minh Khôi", "child_sex": "Nam", "child_date_of_birth": "2026-11-20",
                     "place_of_birth": "Bệnh viện Đa khoa tỉnh Khánh Hòa", "mother_full_name": "Nguyễn Thị Mai",
                     "father_full_name": "Trần Minh Quang", **form},
            "documents": [{"code": code, "upload_id": upload} for code, upload in uploads.items()]}


def household_business(channel: str = "desk", **extra: Any) -> dict[str, Any]:
    return {"procedure_code": "1.001612", "channel": channel, "applicant": BINH,
            "form": {"business_name": "Hộ kinh doanh Bình An", "business_address": "45 Lê Thánh Tôn, phường Nha Trang",
                     "business_lines": ["Bán lẻ thực phẩm"], "capital_vnd": 200_000_000}, **extra}


def judicial_record(channel: str = "postal", **extra: Any) -> dict[str, Any]:
    return {"procedure_code": "3.000333", "channel": channel, "applicant": BINH,
            "form": {"certificate_type": 1, "purpose": "Bổ sung hồ sơ xin việc", "copies": 2}, **extra}


def construction_permit(channel: str = "postal") -> dict[str, Any]:
    return {"procedure_code": "1.013225", "channel": channel, "applicant": VIETTEL,
            "form": {"site_address": "Lô B2, đường Phong Châu, phường Nha Trang", "land_parcel": "Thửa 125, tờ 12",
                     "floors": 4, "floor_area_m2": 320.5}}


def security_certificate(channel: str = "desk") -> dict[str, Any]:
    return {"procedure_code": "2.001478", "channel": channel, "applicant": BINH,
            "form": {"business_name": "Karaoke Hoa Biển", "business_address": "20 Biệt Thự, phường Nha Trang",
                     "business_line": "karaoke"}}
